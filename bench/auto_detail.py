"""Does the ``content`` auto-detail policy save image tokens without losing what needs ``high``? (issue 31)

Corpus: ``oculi.testing.detail_corpus`` — 300+ images made from scikit-image's
sample photographs and scans and from text drawn with Pillow's own font:
photos up to 12 MP, photos with a sign of text (9–120 px), documents,
screenshots, charts, slides, thin strips.

Ground truth never comes from the policy's rule. For photos, scans and
photos with signs, a real OCR model decides: RapidOCR (PP-OCRv4 detection +
recognition, the models oculi-lite ships) reads the ``high`` view (the SPEC §3
grid at 448 px a tile) and the single ``low`` view (448×448, scaled back up
to the grid's size so both are read at one geometry); the reference text is
what was drawn (signs) or what OCR reads on the full image (photos, scans).
For rendered pages (documents, screenshots, charts, slides, strips) the size
of the text drawn decides (OCR of one dense page takes one to two minutes on
a 2-core machine). An image **needs high** when

- CER(low) − CER(high) > ``CER_GAIN`` (OCR on the high view reads text the
  low view loses), or
- a rendered item's (signs included) smallest text is below ``LEGIBLE_PX`` at
  the low view while at least that at the high view, where ``high`` makes it
  legible (its font size in view pixels, as the area scales: the low view
  squashes both axes to 448).

Then every image goes through ``Intake.prepare`` with ``auto`` under both
policies (no question), and the script prints:

- image tokens under ``content`` vs the ``size`` rule (saved %, goal ≥ 40 %);
- images that needed ``high`` but got ``low`` (misses, goal ≤ 2 % of the corpus);
- the decision's time per image (``measure`` on the decoded pixels, median and
  p99) next to ``Intake.prepare``'s time under ``size``, and on the 12 MP
  JPEGs their ratio (goal ≤ 5 %).

The OCR results are cached (``--cache``, keyed by each image's sha256), so a
rerun only re-times the policy. First run: about 20 minutes on 2 busy cores.

    PYTHONPATH=src .venv/bin/python bench/auto_detail.py [--limit N] [--cache PATH] [--misses]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oculi.domain import Detail, ImagePart
from oculi.intake import Intake, PixelSpec
from oculi.intake.detail import measure
from oculi.intake.render import decode_for
from oculi.intake.tiling import plan_tiles
from oculi.intake.types import TILE_SIZE
from oculi.settings import Settings
from oculi.testing.detail_corpus import CorpusItem, corpus

#: An image needs ``high`` when OCR's character error rate at ``low`` exceeds that at ``high`` by more than this.
CER_GAIN = 0.10
#: Text whose font size is at least this many pixels in a view is legible there (rendered items).
LEGIBLE_PX = 8
#: Below this many reference characters OCR has nothing to compare.
MIN_CHARS = 3
#: The kinds OCR judges. Rendered pages (documents, screenshots, charts, slides, strips) are judged by
#: the size of the text drawn: OCR of one dense page takes one to two minutes on a 2-core machine.
OCR_KINDS = {"photo", "scan", "sign"}


def normalise(text: str) -> str:
    """Lower case, letters and digits only: OCR's spacing and punctuation are not what detail decides."""
    return re.sub(r"[\W_]+", "", text.lower())


def cer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / reference length (row-by-row DP, vectorised over the hypothesis)."""
    if not reference:
        return 0.0
    ref = np.frombuffer(reference.encode("utf-32-le"), dtype=np.uint32)
    hyp = np.frombuffer(hypothesis.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(hyp) + 1)
    previous = offsets.copy()
    for i, char in enumerate(ref, start=1):
        substitute = previous[:-1] + (hyp != char)
        row = np.empty_like(previous)
        row[0] = i
        row[1:] = np.minimum(previous[1:] + 1, substitute)
        # insertions: row[j] = min_k≤j (row[k] + j − k)
        row = np.minimum.accumulate(row - offsets) + offsets
        previous = row
    return min(1.0, float(previous[-1]) / len(ref))


def views(image: Image.Image) -> tuple[Image.Image, Image.Image, tuple[int, int]]:
    """The high view (the grid as one image) and the low view scaled up to it; the grid (cols, rows)."""
    plan = plan_tiles(image.width, image.height, Detail.HIGH)
    grid = (TILE_SIZE * plan.cols, TILE_SIZE * plan.rows)
    high = image.resize(grid, Image.Resampling.BICUBIC)
    low = image.resize((TILE_SIZE, TILE_SIZE), Image.Resampling.BICUBIC).resize(grid, Image.Resampling.BICUBIC)
    return high, low, (plan.cols, plan.rows)


def ocr_truth(image: Image.Image, drawn: str | None, reader: Any) -> dict[str, Any]:
    """CER of OCR on the low and the high view against the reference text (cached per image)."""

    def read(view: Image.Image) -> str:
        return normalise(" ".join(box.text for box in reader.read(view)))

    high, low, _grid = views(image)
    reference = normalise(drawn) if drawn is not None else read(image)
    cer_low = cer_high = 0.0
    ocr_ms = None
    if len(reference) >= MIN_CHARS:  # else there is no text for either view to read
        start = time.perf_counter()
        cer_high = cer(reference, read(high))
        ocr_ms = round((time.perf_counter() - start) * 1000, 1)
        # when the high view reads nothing right, the low view cannot read more (CER is at most 1)
        cer_low = cer(reference, read(low)) if cer_high < 1.0 - CER_GAIN else 1.0
    return {"cer_low": round(cer_low, 4), "cer_high": round(cer_high, 4), "ocr_ms": ocr_ms}


def size_truth(item: CorpusItem, image: Image.Image) -> bool:
    """A rendered item's smallest text is illegible at the low view and legible at the high view."""
    if item.min_em is None:
        return False
    cols, rows = (plan := plan_tiles(image.width, image.height, Detail.HIGH)).cols, plan.rows
    # the font's size in view pixels, as its area scales (the low view squashes both axes to 448)
    at_low = item.min_em * TILE_SIZE / math.sqrt(image.width * image.height)
    return at_low < LEGIBLE_PX <= at_low * math.sqrt(cols * rows)


def truth(item: CorpusItem, image: Image.Image, ocr: dict[str, Any] | None) -> dict[str, Any]:
    """The ground truth of one item: by OCR (where run) or by the size of its rendered text."""
    by_ocr = ocr is not None and ocr["cer_low"] - ocr["cer_high"] > CER_GAIN
    by_size = size_truth(item, image)
    measured = {k: ocr[k] for k in ("cer_low", "cer_high", "ocr_ms")} if ocr is not None else {}
    return {"needs_high": by_ocr or by_size, "by_ocr": by_ocr, "by_size": by_size, **measured}


async def policy_run(data: bytes) -> dict[str, Any]:
    """Plans and times of one image under both policies (caches off: every run does the work)."""
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    out: dict[str, Any] = {}
    for policy in ("size", "content"):
        intake = Intake(Settings(auto_detail=policy, image_cache_bytes=0, decode_workers=1))
        try:
            start = time.perf_counter()
            [prepared] = await intake.prepare([ImagePart(url)], PixelSpec())
            out[policy] = (prepared.plan.detail.value, prepared.image_tokens, prepared.reason)
            out[f"{policy}_ms"] = (time.perf_counter() - start) * 1000
        finally:
            await intake.aclose()
    return out


def decision_ms(data: bytes) -> float:
    """The decision's own cost: ``measure`` on the pixels intake decodes for ``high`` (best of 3)."""
    from oculi.intake.decode import check_type, read_header

    settings = Settings()
    header = read_header(data, check_type(data), max_pixels=settings.max_image_pixels)
    plan = plan_tiles(header.width, header.height, Detail.HIGH)
    rgb = decode_for(data, header, plan, PixelSpec(), fast=True, max_pixels=settings.max_image_pixels, views=True)
    array = np.array(rgb)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        measure(array)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "oculi" / "auto_detail_gt.json")
    parser.add_argument("--limit", type=int, default=0, help="only the first N items (0: all)")
    parser.add_argument("--threads", type=int, default=1, help="OCR threads")
    parser.add_argument("--misses", action="store_true", help="list every miss and every needless high")
    args = parser.parse_args()

    from oculi.engines.lite.ocr import TextReader

    cache: dict[str, Any] = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    reader: TextReader | None = None
    items = list(corpus())
    if args.limit:
        items = items[: args.limit]
    rows = []
    for n, item in enumerate(items, start=1):
        image, drawn = item.make()
        data = CorpusItem.encode(image, item.fmt)
        key = f"{item.name}:{hashlib.sha256(data).hexdigest()[:16]}"
        if item.kind in OCR_KINDS and key not in cache:
            reader = reader or TextReader(threads=args.threads)
            cache[key] = ocr_truth(image, drawn, reader)
            if n % 10 == 0:
                args.cache.parent.mkdir(parents=True, exist_ok=True)
                args.cache.write_text(json.dumps(cache, indent=0))
        run = asyncio.run(policy_run(data))
        megapixels = image.width * image.height / 1e6
        row = {"item": item, "truth": truth(item, image, cache.get(key)), **run, "decide_ms": decision_ms(data)}
        rows.append({**row, "jpeg12": item.fmt == "JPEG" and megapixels >= 12})
        print(f"\r{n}/{len(items)} {item.name:60s}", end="", flush=True)
    print()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    args.cache.write_text(json.dumps(cache, indent=0))
    report(rows, args.misses)


def report(rows: list[dict[str, Any]], list_misses: bool) -> None:
    total = len(rows)
    need = [r for r in rows if r["truth"]["needs_high"]]
    misses = [r for r in need if r["content"][0] == "low"]
    needless = [r for r in rows if not r["truth"]["needs_high"] and r["content"][0] == "high"]
    size_tokens = sum(r["size"][1] for r in rows)
    content_tokens = sum(r["content"][1] for r in rows)
    print(f"corpus: {total} images, {len(need)} need high by OCR ground truth (CER gain > {CER_GAIN}, "
          f"or text < {LEGIBLE_PX} px at low)")  # fmt: skip
    print("\nby kind: images / need high / content chose high / misses / tokens size → content")
    for kind in sorted({r["item"].kind for r in rows}):
        of = [r for r in rows if r["item"].kind == kind]
        print(
            f"  {kind:11s} {len(of):4d} {sum(r['truth']['needs_high'] for r in of):4d} "
            f"{sum(r['content'][0] == 'high' for r in of):4d} "
            f"{sum(r['truth']['needs_high'] and r['content'][0] == 'low' for r in of):3d}   "
            f"{sum(r['size'][1] for r in of):7d} → {sum(r['content'][1] for r in of):7d}"
        )
    saved = 1 - content_tokens / size_tokens
    print(f"\n1. image tokens: size rule {size_tokens}, content {content_tokens}: saved {saved:.1%} (goal ≥ 40 %)")
    print(f"2. needed high, got low: {len(misses)} of {total} = {len(misses) / total:.2%} (goal ≤ 2 %); "
          f"{len(needless)} images got high without needing it")  # fmt: skip
    decide = [r["decide_ms"] for r in rows]
    size_ms = [r["size_ms"] for r in rows]
    content_ms = [r["content_ms"] for r in rows]
    print(
        f"3. decision time per image: median {statistics.median(decide):.2f} ms, p99 {pct(decide, 99):.2f} ms; "
        f"intake (size policy) median {statistics.median(size_ms):.1f} ms, p99 {pct(size_ms, 99):.1f} ms; "
        f"intake (content policy, decision included) median {statistics.median(content_ms):.1f} ms"
    )
    big = [r for r in rows if r["jpeg12"]]
    if big:
        d, i = statistics.median(r["decide_ms"] for r in big), statistics.median(r["size_ms"] for r in big)
        print(f"   12 MP JPEGs ({len(big)}): decision {d:.2f} ms vs intake {i:.1f} ms = {d / i:.1%} (goal ≤ 5 %)")
    ocr = [r["truth"]["ocr_ms"] for r in rows if r["truth"].get("ocr_ms") is not None]
    if ocr:
        print(f"   (for scale: OCR of one high view, detector + recogniser, median {statistics.median(ocr):.0f} ms)")
    if list_misses:
        for label, group in (("miss", misses), ("needless high", needless)):
            for r in group:
                t = r["truth"]
                print(f"  {label}: {r['item'].name} cer low {t.get('cer_low')} high {t.get('cer_high')} "
                      f"ocr {t['by_ocr']} size {t['by_size']} → {r['content']}")  # fmt: skip
    by = collections.Counter(r["content"][2] for r in rows)
    print("reasons (content):", dict(by))


if __name__ == "__main__":
    main()

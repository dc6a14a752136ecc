"""How fast does oculi-lite answer on this machine's CPU, and how much memory does it hold?

Median end-to-end latency of one question per image (decode JPEG/PNG bytes with
EXIF → OCR + classifier + faces + facts → composed, streamed answer) for a
1 MP screenshot and a 12 MP photo, the per-model split, the load time, and the
peak resident memory. The cache is defeated (each run is a new image hash).
"cpu s" is the process's CPU time per answer (all threads): on a shared, busy
machine the wall time is inflated, and cpu s / cores bounds what an idle one does.
Target (issue 7): under 1.5 s per 1 MP screenshot on 2 cores.

    .venv/bin/python bench/lite.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import itertools
import os
import resource
import statistics
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.lite import LiteEngine, load
from oculi.intake.types import PreparedImage, TilePlan
from oculi.settings import Settings

TARGET_SCREENSHOT_S = 1.5
_SALT = itertools.count()  # a fresh content hash per run, so the report cache never answers
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size) if FONT.is_file() else ImageFont.load_default(size=size)


def screenshot() -> bytes:
    """A 1280×800 (1.0 MP) chat-app window: title bar, 12 sidebar entries, 14 message lines, a button."""
    image = Image.new("RGB", (1280, 800), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 40), fill=(40, 44, 52))
    draw.text((16, 10), "Team Chat - #general", font=_font(17), fill="white")
    draw.rectangle((0, 40, 240, 800), fill=(228, 231, 238))
    for i in range(12):
        draw.text((18, 64 + i * 48), f"channel-{i} updates", font=_font(16), fill="black")
    for i in range(14):
        draw.text((270, 64 + i * 46), f"Message {i}: the build for release {i}.2 passed all checks", font=_font(17))
    draw.rounded_rectangle((1120, 740, 1260, 780), radius=6, fill=(30, 100, 220))
    draw.text((1160, 749), "Send", font=_font(18), fill="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def photo() -> bytes:
    """A 4000×3000 (12 MP) JPEG: a real photo (scikit-image's coffee cup) enlarged, with a printed label."""
    import skimage

    base = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    image = base.resize((4000, 3000), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1))
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 2500, 1900, 2800), fill=(250, 248, 240))
    draw.text((260, 2570), "CAFE DEL SOL", font=_font(150), fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def prepared(data: bytes, salt: int) -> PreparedImage:
    """Bytes as the engine receives them when intake hands no decoded image (the engine decodes)."""
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
    digest = hashlib.sha256(data + salt.to_bytes(4, "little")).hexdigest()
    return PreparedImage(0, digest, data, "image/png", width, height, TilePlan(Detail.HIGH, 3, 2, True))


async def measure(engine: LiteEngine, data: bytes, runs: int) -> tuple[list[float], list[float], dict[str, float]]:
    """Wall seconds and CPU seconds (all threads) per run, and the median per-model wall seconds."""
    times, cpu = [], []
    for _ in range(runs):
        image = prepared(data, next(_SALT))
        used = resource.getrusage(resource.RUSAGE_SELF)
        conversation = Conversation([Message(Role.USER, [ImagePart("data:"), TextPart("What's in this image?")])])
        started = time.perf_counter()
        async for _delta in engine.generate(EngineRequest("bench", conversation, [image], GenerationParams())):
            pass
        times.append(time.perf_counter() - started)
        now = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append(now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime)
    reports = list(engine.analyzer._cache.values())[-runs:]
    split = {k: statistics.median(r.seconds[k] for r in reports) for k in reports[0].seconds}
    return times, cpu, split


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    engine = load(Settings())
    load_s = time.perf_counter() - started
    print(f"cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  model load: {load_s:.2f} s")
    print(f"{'image':<24} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>7}   per model (median wall s)")
    for name, data in [("1 MP screenshot (PNG)", screenshot()), ("12 MP photo (JPEG)", photo())]:
        await measure(engine, data, 1)  # warm-up: first-run allocations
        times, cpu, split = await measure(engine, data, args.runs)
        detail = "  ".join(f"{k} {v:.2f}" for k, v in sorted(split.items()))
        row = f"{statistics.median(times):>9.2f} {min(times):>7.2f} {max(times):>7.2f} {statistics.median(cpu):>7.2f}"
        print(f"{name:<24} {row}   {detail}")
        if name.startswith("1 MP"):
            ratio = statistics.median(times) / TARGET_SCREENSHOT_S
            print(f"{'':<24} ratio to the {TARGET_SCREENSHOT_S} s target: {ratio:.2f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")
    await engine.close()


if __name__ == "__main__":
    asyncio.run(main())

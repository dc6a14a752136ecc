"""oculi-lite fed by the real intake pipeline: data URLs in, EXIF applied, SPEC §3 tokens out."""

from __future__ import annotations

import base64
import io

from lite_support import collect, render_sign, request
from PIL import Image

from oculi.domain import ImagePart
from oculi.engines.lite import LiteEngine
from oculi.intake import Intake
from oculi.settings import Settings


def data_url(image: Image.Image, fmt: str = "PNG", exif: Image.Exif | None = None) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"exif": exif} if exif is not None else {}))
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}"


async def test_exif_rotated_photo_through_intake_is_read(engine: LiteEngine) -> None:
    upright = render_sign([("PLATFORM 9", 64), ("trains to the north", 34)], size=(720, 240))
    exif = Image.Exif()
    exif[0x0112] = 8  # "turn counter-clockwise to view": stored turned a quarter clockwise
    stored = upright.rotate(-90, expand=True)
    intake = Intake(Settings())
    try:
        parts = [ImagePart(data_url(stored, "JPEG", exif))]
        images = await intake.prepare(parts, engine.pixel_spec)
    finally:
        await intake.aclose()
    assert images[0].image is not None and images[0].image.size == upright.size  # intake applied EXIF
    answer = await collect(engine.generate(request("Read this sign", images)))
    text = answer.text()
    assert "PLATFORM 9" in text and "trains to the north" in text, text
    assert answer.deltas[-1].usage is not None
    assert answer.deltas[-1].usage.prompt_image_tokens == images[0].plan.image_tokens


async def test_several_images_through_intake_keep_their_order(engine: LiteEngine) -> None:
    first = render_sign([("ALPHA", 72)], size=(420, 180))
    second = Image.new("RGB", (1200, 500), (30, 140, 45))
    intake = Intake(Settings())
    try:
        images = await intake.prepare([ImagePart(data_url(first)), ImagePart(data_url(second))], engine.pixel_spec)
    finally:
        await intake.aclose()
    answer = await collect(engine.generate(request("What's in these images?", images)))
    text = answer.text()
    assert text.index("Image 1:") < text.index("ALPHA") < text.index("Image 2:") < text.index("green")
    assert answer.deltas[-1].usage is not None
    assert answer.deltas[-1].usage.prompt_image_tokens == sum(i.plan.image_tokens for i in images) == 256 + 3 * 256

"""Helpers for the oculi-lite tests: images rendered with Pillow, requests, and a helper to ask.

Until every test goes through ``oculi.intake``, ``prepared`` builds the
``PreparedImage`` that intake would hand over (decoded RGB image, SPEC §3 plan).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from oculi.domain import Conversation, Delta, Detail, FinishReason, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.domain.generation import Usage
from oculi.engines.base import EngineRequest
from oculi.engines.lite import LiteEngine
from oculi.intake.types import PreparedImage, TilePlan

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans when the system has it, else Pillow's bundled scalable font."""
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size=size)


def plan_for(width: int, height: int) -> TilePlan:
    """SPEC §3 for the test images: ``low`` up to 448 px, else a 2×1 grid plus thumbnail (768 tokens)."""
    if width <= 448 and height <= 448:
        return TilePlan(Detail.LOW, 1, 1, thumbnail=False)
    return TilePlan(Detail.HIGH, 2, 1, thumbnail=True)


def prepared(index: int, image: Image.Image, data: bytes = b"") -> PreparedImage:
    """What intake hands the engine for ``image`` (decoded, EXIF applied, planned)."""
    digest = hashlib.sha256(data or image.tobytes()).hexdigest()
    return PreparedImage(
        index=index,
        sha256=digest,
        data=data,
        mime="image/png",
        width=image.width,
        height=image.height,
        plan=plan_for(image.width, image.height),
        image=image,
    )


@dataclass
class Answer:
    """A collected stream: text per choice, finish reasons, usage, and the raw deltas."""

    deltas: list[Delta]

    def text(self, index: int = 0) -> str:
        return "".join(d.text for d in self.deltas if d.index == index)

    def finish(self, index: int = 0) -> FinishReason | None:
        return next(d.finish_reason for d in self.deltas if d.index == index and d.finish_reason)

    @property
    def usage(self) -> Usage:
        assert self.deltas[-1].usage is not None, "the last delta must carry usage"
        return self.deltas[-1].usage


def request(question: str, images: Sequence[PreparedImage], params: GenerationParams | None = None) -> EngineRequest:
    """One user message: the images first, then the question (as the seeds' clients send it)."""
    parts: list = [ImagePart(url=f"data:image/png;base64,{i}") for i in range(len(images))]
    conversation = Conversation([Message(Role.USER, [*parts, TextPart(question)])])
    return EngineRequest("test", conversation, list(images), params or GenerationParams())


async def collect(stream: AsyncIterator[Delta]) -> Answer:
    return Answer([d async for d in stream])


async def ask(
    engine: LiteEngine, question: str, *images: Image.Image, params: GenerationParams | None = None
) -> Answer:
    """Ask ``question`` about ``images`` and collect the whole stream."""
    return await collect(engine.generate(request(question, [prepared(i, im) for i, im in enumerate(images)], params)))


def render_sign(lines: Sequence[tuple[str, int]], size: tuple[int, int] = (900, 420)) -> Image.Image:
    """Black text on a white board; each line at its own font size (pixels)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    y = 30
    for text, px in lines:
        draw.text((40, y), text, font=font(px), fill="black")
        y += int(px * 1.8)
    return image


def render_screenshot() -> Image.Image:
    """A desktop-app window: title bar, menu, a sidebar of folders and a main pane of messages."""
    image = Image.new("RGB", (1024, 640), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1024, 36), fill=(40, 44, 52))
    draw.text((14, 9), "Mailbox - Inbox", font=font(16), fill="white")
    draw.rectangle((0, 36, 200, 640), fill=(228, 231, 238))
    for i, name in enumerate(["Inbox", "Drafts", "Archive", "Spam"]):
        draw.text((18, 60 + i * 40), name, font=font(18), fill="black")
    messages = ["Quarterly report attached", "Lunch on Friday", "Server maintenance tonight"]
    for i, subject in enumerate(messages):
        top = 60 + i * 70
        draw.rectangle((220, top - 8, 1000, top + 48), outline=(200, 200, 210), fill="white")
        draw.text((236, top), subject, font=font(20), fill="black")
    draw.rounded_rectangle((860, 590, 1000, 626), radius=6, fill=(30, 100, 220))
    draw.text((890, 597), "Send", font=font(18), fill="white")
    return image


def render_document() -> Image.Image:
    """A portrait page: a heading and paragraphs of body text on white paper."""
    image = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(image)
    draw.text((80, 80), "Annual Garden Report", font=font(40), fill="black")
    body = [
        "The tomatoes ripened early this year.",
        "Rainfall was below the ten year average.",
        "Next spring we will plant more beans.",
    ]
    for i, line in enumerate(body):
        draw.text((80, 200 + i * 44), line, font=font(24), fill=(20, 20, 20))
    draw.text((80, 420), "Signed by the committee", font=font(24), fill=(20, 20, 20))
    return image

"""Turning a conversation and its prepared images into the llama.cpp engine's prompt.

The prompt is a list of pieces: runs of text token ids and images, each image
one bitmap that libmtmd encodes. Two layouts:

- ``TILES`` (InternVL family, SPEC §3): every tile of the SPEC plan and the
  thumbnail is its own 448×448 bitmap, so mtmd never slices (an image of one
  tile's size is encoded as one 256-token chunk) and the token count is
  exactly ``views · 256``. The image is written the way transformers'
  InternVL processor writes it: ``<img>`` + the views' embeddings + ``</img>``
  in place of the chat template's image placeholder. mtmd's own InternVL rule
  differs (llava-uhd pinpoints up to 12 tiles, e.g. 1920×1080 → 2×2 slices +
  overview where SPEC §3 picks 2×1 + thumbnail) and wraps every slice in its
  own ``<img>…</img>``; neither is used here.
- ``MTMD`` (every other architecture): the whole image is one bitmap and
  mtmd's own preprocessing decides slices and wrapper tokens; usage reports
  what mtmd produced. ``detail: low`` first shrinks the image to fit 448×448
  (fewer tokens for dynamic-resolution models).

Both layouts render the GGUF's chat template (Jinja, as transformers does),
with image content items; the template's image placeholder is then replaced.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from oculi.domain import Conversation, Detail, FunctionTool, TextPart
from oculi.engines.template import template_messages, template_tools
from oculi.errors import ImageDecodeError, InvalidRequest, public_reason
from oculi.intake.types import PixelSpec, PreparedImage, TilePlan

MTMD_MARKER = "<__media__>"
IMG_START, IMG_END = "<img>", "</img>"

# What chat templates emit for an image content item, most specific first.
# Qwen2-VL style wrappers are included because mtmd adds its own.
PLACEHOLDERS = (
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<IMG_CONTEXT>",
    "<image>",
    "<|image|>",
    "<start_of_image>",
    "[IMG]",
    MTMD_MARKER,
)

# Used when the GGUF carries no template: ChatML, images as their own line.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<__media__>\\n' }}"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n'}}{% endif %}"
)


class Layout(Enum):
    """How images enter the prompt (see the module docstring)."""

    TILES = "tiles"
    MTMD = "mtmd"


@dataclass(frozen=True)
class Bitmap:
    """One RGB bitmap for mtmd. ``key`` names its content (cache and KV-prefix identity).

    ``wrapped``: keep the text chunks mtmd puts around the image (``MTMD``
    layout); ``TILES`` writes its own ``<img>``/``</img>`` and drops them.
    """

    key: str
    width: int
    height: int
    rgb: bytes
    wrapped: bool


Piece = list[int] | Bitmap


class ChatTemplate:
    """A GGUF chat template compiled once (sandboxed Jinja, like transformers' ``apply_chat_template``)."""

    def __init__(self, source: str | None, bos_token: str, eos_token: str) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise InvalidRequest(f"The model's chat template refused the conversation: {message}", param="messages")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        self.source = source or CHATML_TEMPLATE
        self._template = env.from_string(self.source)
        self._bos, self._eos = bos_token, eos_token

    def render(
        self,
        messages: list[dict[str, Any]],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, bool] | None = None,
    ) -> str:
        """The prompt text, ending with the assistant's generation header (``tools`` for templates that show them).

        ``switch``: more template variables (``enable_thinking``).
        """
        return str(
            self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
                tools=template_tools(tools or []),
                **(switch or {}),
            )
        )


def _inline(conversation: Conversation) -> list[dict[str, Any]]:
    """Messages with string content only, images as the mtmd marker on their own line."""
    return [
        {
            "role": m.role.value,
            "content": "".join(p.text if isinstance(p, TextPart) else MTMD_MARKER + "\n" for p in m.parts),
        }
        for m in conversation.messages
    ]


def split_on_images(
    template: ChatTemplate,
    conversation: Conversation,
    n_images: int,
    tools: list[FunctionTool] | None = None,
    switch: dict[str, bool] | None = None,
) -> list[str]:
    """Render the conversation and cut it at the images: ``n_images + 1`` text pieces.

    First with image content items (as transformers renders them): the
    placeholder is the first of ``PLACEHOLDERS`` that the output holds exactly
    ``n_images`` times, and that the conversation's own text never contains
    (so a user typing ``<image>`` cannot shift the images). Templates that
    only know string content get the images inline as mtmd's marker.
    """
    if n_images == 0:
        return [template.render(template_messages(conversation, flatten_text_turns=True), tools, switch)]
    typed = "".join(p.text for m in conversation.messages for p in m.parts if isinstance(p, TextPart))
    if MTMD_MARKER in typed:
        raise InvalidRequest(f"The text may not contain the reserved marker {MTMD_MARKER}.", param="messages")
    text = template.render(template_messages(conversation, flatten_text_turns=True), tools, switch)
    for placeholder in PLACEHOLDERS:
        if placeholder not in typed and text.count(placeholder) == n_images:
            return text.split(placeholder)
    text = template.render(_inline(conversation), tools, switch)
    if text.count(MTMD_MARKER) == n_images:
        return text.split(MTMD_MARKER)
    raise InvalidRequest(
        "The model's chat template does not show where images go (no known image placeholder in its "
        "output); this GGUF cannot be served with images.",
        param="messages",
    )


def views_rgb(image: PreparedImage, spec: PixelSpec) -> np.ndarray:
    """The SPEC §3 views of ``image`` as uint8 ``[views, S, S, 3]``.

    Intake hands over normalised float32 views; undoing the normalisation and
    rounding gives back the exact uint8 pixels (the error is far below half a
    grey level). Without them, the original bytes are decoded and tiled here.
    """
    if image.pixel_values is not None:
        std = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
        mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
        pixels = image.pixel_values * std + mean
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    from oculi.intake.tiling import render_views

    views = render_views(_decode(image), image.plan, spec)
    return views_rgb(
        PreparedImage(
            image.index, image.sha256, b"", image.mime, image.width, image.height, image.plan, pixel_values=views
        ),
        spec,
    )


def _decode(image: PreparedImage) -> Any:
    from PIL import Image, ImageOps

    if image.image is not None:
        return image.image.convert("RGB")
    try:
        with Image.open(io.BytesIO(image.data)) as raw:
            oriented = ImageOps.exif_transpose(raw)
            if oriented.mode in ("RGBA", "LA", "P"):
                rgba = oriented.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return oriented.convert("RGB")
    except Exception as exc:  # PIL raises many types for corrupt data
        raise ImageDecodeError(f"could not be decoded ({public_reason(exc)}).", index=image.index) from exc


def _plan_key(plan: TilePlan) -> str:
    return f"{plan.detail.value}{plan.cols}x{plan.rows}{'t' if plan.thumbnail else ''}"


def image_pieces(
    image: PreparedImage, layout: Layout, spec: PixelSpec, tokenize: Callable[[str], list[int]]
) -> list[Piece]:
    """The pieces one image becomes in ``layout`` (see the module docstring)."""
    if layout is Layout.TILES:
        views = views_rgb(image, spec)
        size = spec.tile_size
        pieces: list[Piece] = [tokenize(IMG_START)]
        for i, view in enumerate(views):
            key = f"{image.sha256}:{_plan_key(image.plan)}:{i}"
            pieces.append(Bitmap(key, size, size, np.ascontiguousarray(view).tobytes(), wrapped=False))
        pieces.append(tokenize(IMG_END))
        return pieces
    picture = _decode(image)
    if image.plan.detail is Detail.LOW and max(picture.size) > spec.tile_size:
        from PIL import Image

        picture = picture.copy()
        picture.thumbnail((spec.tile_size, spec.tile_size), Image.Resampling.BICUBIC)
    key = f"{image.sha256}:{picture.size[0]}x{picture.size[1]}"
    return [Bitmap(key, picture.size[0], picture.size[1], picture.tobytes(), wrapped=True)]


def build_pieces(
    template: ChatTemplate,
    conversation: Conversation,
    images: Sequence[PreparedImage],
    layout: Layout,
    spec: PixelSpec,
    tokenize: Callable[[str, bool], list[int]],
    tools: list[FunctionTool] | None = None,
    switch: dict[str, bool] | None = None,
) -> list[Piece]:
    """The whole prompt as pieces. ``tokenize(text, add_special)`` parses special tokens."""
    n = len(conversation.images())
    if len(images) != n:
        raise InvalidRequest(f"The request has {n} image parts but {len(images)} prepared images.")
    texts = split_on_images(template, conversation, n, tools, switch)
    pieces: list[Piece] = []
    for i, text in enumerate(texts):
        tokens = tokenize(text, i == 0)
        if tokens:
            pieces.append(tokens)
        if i < n:
            pieces.extend(image_pieces(images[i], layout, spec, lambda s: tokenize(s, False)))
    return pieces

"""Turning a conversation and its prepared images into the llama.cpp engine's prompt.

The prompt is a list of pieces: runs of text token ids and images, each image
one bitmap that libmtmd encodes. The families of ``oculi.families`` get
SPEC §3's views, each bitmap exactly one view-size image (or Qwen's grid
image), so mtmd neither slices nor resizes it and every view costs exactly
256 tokens (the engine measures this at load, ``projector.exact``). Three layouts:

- ``TILES`` (a ``STACK`` family, InternVL): every tile of the SPEC plan and
  the thumbnail is its own 448×448 bitmap, written the way transformers'
  InternVL processor writes the image: the family's wrapper
  (``ImageText.open``, ``<img>``) + the views' embeddings + ``</img>`` in place of the
  chat template's one image placeholder. mtmd's own InternVL rule differs
  (llava-uhd pinpoints up to 12 tiles, e.g. 1920×1080 → 2×2 slices + overview
  where SPEC §3 picks 2×1 + thumbnail) and wraps every slice in its own
  ``<img>…</img>``; neither is used here.
- ``VIEWS`` (every other family): the model takes one request image as
  several images (``Family.model_images``; Qwen: the grid as one ``cols·S × rows·S`` image, then the
  thumbnail; Gemma 3: each view), so the template writes one placeholder per
  model image (as for the transformers engine) and each becomes one bitmap
  with mtmd's wrapper tokens — ``<|vision_start|>…<|vision_end|>`` and
  ``<start_of_image>…<end_of_image>``, what the families' processors write —
  plus the text the processor puts around it (``ImageText.around``; Gemma 3:
  ``\n\n`` each side).
- ``MTMD`` (every other architecture, and a family whose projector is not
  exact): the whole image is one bitmap and mtmd's own preprocessing decides
  slices and wrapper tokens; usage reports what mtmd produced. ``detail: low``
  first shrinks the image to fit 448×448 (fewer tokens for dynamic-resolution
  models).

Every layout renders the GGUF's chat template (Jinja, as transformers does),
with image content items; the template's image placeholders are then replaced.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np

from oculi.domain import Conversation, Detail, FunctionTool, TextPart
from oculi.engines.common.template import template_messages, template_tools
from oculi.errors import ImageDecodeError, InvalidRequest, public_reason
from oculi.families import Family
from oculi.intake.types import PixelSpec, PreparedImage, TilePlan, ViewLayout

MTMD_MARKER = "<__media__>"

# What chat templates emit for an image content item, most specific first.
# Qwen2-VL's and GLM-V's wrappers are included because mtmd adds its own.
PLACEHOLDERS = (
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|begin_of_image|><|image|><|end_of_image|>",
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
    VIEWS = "views"
    MTMD = "mtmd"


@dataclass(frozen=True)
class Bitmap:
    """One RGB bitmap for mtmd. ``key`` names its content (cache and KV-prefix identity).

    ``wrapped``: keep the text chunks mtmd puts around the image (``VIEWS``
    and ``MTMD``); ``TILES`` writes its own ``<img>``/``</img>`` and drops them.
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


def _inline(conversation: Conversation, repeats: Sequence[int] | None) -> list[dict[str, Any]]:
    """Messages with string content only, each model image as the mtmd marker on its own line."""
    messages, image = [], 0
    for m in conversation.messages:
        content = ""
        for p in m.parts:
            if isinstance(p, TextPart):
                content += p.text
            else:
                content += (MTMD_MARKER + "\n") * (repeats[image] if repeats else 1)
                image += 1
        messages.append({"role": m.role.value, "content": content})
    return messages


def split_on_images(
    template: ChatTemplate,
    conversation: Conversation,
    n_images: int,
    tools: list[FunctionTool] | None = None,
    repeats: Sequence[int] | None = None,
    switch: dict[str, bool] | None = None,
) -> list[str]:
    """Render the conversation and cut it at the images: ``n_images + 1`` text pieces.

    ``repeats[i]``: placeholders for the conversation's ``i``-th image (one
    per image the model takes; ``n_images`` is their sum). First with image
    content items (as transformers renders them): the placeholder is the first
    of ``PLACEHOLDERS`` that the output holds exactly ``n_images`` times, and
    that the conversation's own text never contains (so a user typing
    ``<image>`` cannot shift the images). Templates that only know string
    content get the images inline as mtmd's marker.
    """
    messages = template_messages(conversation, flatten_text_turns=True, image_repeats=repeats)
    if n_images == 0:
        return [template.render(messages, tools, switch)]
    typed = "".join(p.text for m in conversation.messages for p in m.parts if isinstance(p, TextPart))
    if MTMD_MARKER in typed:
        raise InvalidRequest(f"The text may not contain the reserved marker {MTMD_MARKER}.", param="messages")
    text = template.render(messages, tools, switch)
    for placeholder in PLACEHOLDERS:
        if placeholder not in typed and text.count(placeholder) == n_images:
            return text.split(placeholder)
    text = template.render(_inline(conversation, repeats), tools, switch)
    if text.count(MTMD_MARKER) == n_images:
        return text.split(MTMD_MARKER)
    raise InvalidRequest(
        "The model's chat template does not show where images go (no known image placeholder in its "
        "output); this GGUF cannot be served with images.",
        param="messages",
    )


def views_rgb(image: PreparedImage, spec: PixelSpec) -> np.ndarray:
    """The SPEC §3 views of ``image`` as uint8 ``[views, S, S, 3]`` (``TILES`` families).

    Intake renders them so when the engine's spec asks for unnormalised
    pixels; normalised float32 views are turned back into the exact uint8
    pixels (the error is far below half a grey level). Without either, the
    original bytes are decoded and tiled here.
    """
    pixels = image.pixel_values
    if pixels is None:
        from oculi.intake.tiling import render_views

        return render_views(_decode(image), image.plan, replace(spec, normalise=False))
    if pixels.dtype == np.uint8:
        return pixels
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
    return np.clip(np.rint(pixels * std + mean), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def model_images(image: PreparedImage, spec: PixelSpec) -> list[np.ndarray]:
    """The uint8 ``[H, W, 3]`` images the model takes for ``image``: Qwen's grid image and thumbnail, or each view."""
    if spec.layout is ViewLayout.GRID:
        if image.model_images is not None:
            return list(image.model_images)
        from oculi.intake.tiling import render_grid

        return list(render_grid(_decode(image), image.plan, replace(spec, normalise=False)))
    return list(views_rgb(image, spec))


def placeholders(image: PreparedImage, layout: Layout, family: Family | None) -> int:
    """Image placeholders the chat template writes for ``image``: one per image the model takes (``VIEWS``)."""
    if layout is not Layout.VIEWS or family is None:
        return 1
    return len(family.model_images(image.plan))


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
    image: PreparedImage,
    layout: Layout,
    spec: PixelSpec,
    tokenize: Callable[[str], list[int]],
    family: Family | None = None,
) -> list[list[Piece]]:
    """The pieces that replace each of ``image``'s placeholders in ``layout`` (see the module docstring)."""
    plan = _plan_key(image.plan)
    if layout is Layout.TILES:
        if family is None:
            raise ValueError("the TILES layout needs the family (its image wrapper)")
        size = spec.view_size
        pieces: list[Piece] = [tokenize(family.image_text.open)]
        for i, view in enumerate(views_rgb(image, spec)):
            key = f"{image.sha256}:{plan}:{i}"
            pieces.append(Bitmap(key, size, size, np.ascontiguousarray(view).tobytes(), wrapped=False))
        pieces.append(tokenize(family.image_text.close))
        return [pieces]
    if layout is Layout.VIEWS:
        out: list[list[Piece]] = []
        for i, array in enumerate(model_images(image, spec)):
            height, width = array.shape[:2]
            key = f"{image.sha256}:{plan}:{spec.view_size}:{i}"
            out.append([Bitmap(key, width, height, np.ascontiguousarray(array).tobytes(), wrapped=True)])
        return out
    picture = _decode(image)
    if image.plan.detail is Detail.LOW and max(picture.size) > spec.view_size:
        from PIL import Image

        picture = picture.copy()
        picture.thumbnail((spec.view_size, spec.view_size), Image.Resampling.BICUBIC)
    key = f"{image.sha256}:{picture.size[0]}x{picture.size[1]}"
    return [[Bitmap(key, picture.size[0], picture.size[1], picture.tobytes(), wrapped=True)]]


def build_pieces(
    template: ChatTemplate,
    conversation: Conversation,
    images: Sequence[PreparedImage],
    layout: Layout,
    spec: PixelSpec,
    tokenize: Callable[[str, bool], list[int]],
    tools: list[FunctionTool] | None = None,
    family: Family | None = None,
    switch: dict[str, bool] | None = None,
) -> list[Piece]:
    """The whole prompt as pieces. ``tokenize(text, add_special)`` parses special tokens.

    ``family`` (``TILES`` and ``VIEWS``): how many model images one request
    image is, the wrapper ``TILES`` writes, and the text the family's
    processor writes around each image besides mtmd's wrapper
    (``ImageText.around``, ``VIEWS``), added to the neighbouring text so
    that it is tokenized together with it, as the processor's one string is.
    """
    n = len(conversation.images())
    if len(images) != n:
        raise InvalidRequest(f"The request has {n} image parts but {len(images)} prepared images.")
    repeats = [placeholders(image, layout, family) for image in images]
    texts = split_on_images(template, conversation, sum(repeats), tools, repeats, switch)
    groups = [
        group for image in images for group in image_pieces(image, layout, spec, lambda s: tokenize(s, False), family)
    ]
    if len(groups) != len(texts) - 1:
        raise ValueError(f"{len(groups)} image groups for {len(texts) - 1} placeholders")
    before, after = _around(layout, family)
    pieces: list[Piece] = []
    for i, text in enumerate(texts):
        text = (after if i > 0 else "") + text + (before if i < len(groups) else "")
        tokens = tokenize(text, i == 0)
        if tokens:
            pieces.append(tokens)
        if i < len(groups):
            pieces.extend(groups[i])
    return pieces


def _around(layout: Layout, family: Family | None) -> tuple[str, str]:
    """Text the family's processor writes outside mtmd's own wrapper of each ``VIEWS`` bitmap."""
    return family.image_text.around if layout is Layout.VIEWS and family is not None else ("", "")


def marked_prompt(
    template: ChatTemplate,
    conversation: Conversation,
    images: Sequence[PreparedImage],
    spec: PixelSpec,
    family: Family,
    tools: list[FunctionTool] | None = None,
) -> tuple[str, list[np.ndarray]]:
    """The ``VIEWS`` prompt in llama.cpp's own form: text with mtmd's marker per bitmap, and the bitmaps.

    What ``mtmd_tokenize`` (llama-server, mtmd-cli) takes; evaluated by
    ``mtmd_helper_eval_chunks`` it is the reference oculi's worker is
    compared with (same chunks, llama.cpp's own evaluation).
    """
    repeats = [placeholders(image, Layout.VIEWS, family) for image in images]
    texts = split_on_images(template, conversation, sum(repeats), tools, repeats)
    before, after = family.image_text.around
    return (before + MTMD_MARKER + after).join(texts), [a for image in images for a in model_images(image, spec)]

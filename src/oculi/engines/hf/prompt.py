"""Turning a conversation + prepared images into model inputs, per model family.

Both families render the prompt with the checkpoint's own chat template (one
placeholder per image, where the image sits among the text). Then:

- ``TiledPrompter`` (InternVL family): each placeholder becomes ``<img>``,
  then ``views × tokens-per-view`` ``<IMG_CONTEXT>`` tokens, then ``</img>``
  — exactly what ``InternVLProcessor`` writes — and the pixels are intake's
  tiles (SPEC §3), fed as they are.
- ``ProcessorPrompter`` (any other family): the checkpoint's processor expands
  the placeholders and makes the pixels from the decoded images; the image
  tokens are what it produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from oculi.domain import Conversation, FunctionTool
from oculi.engines.hf.vision import TiledImage
from oculi.engines.template import template_messages, template_tools
from oculi.intake.types import PixelSpec, PreparedImage

#: Largest side of the decoded image handed to processor-driven families.
FULL_IMAGE_MAX_SIDE = 2048


@dataclass
class Prompt:
    """Model-ready inputs of one request: token ids, pixels (tiles or processor kwargs), token counts."""

    input_ids: torch.Tensor  # [1, L]
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    image_tokens: int = 0
    tiles: list[TiledImage] = field(default_factory=list)  # tiled families: encoded by ``TileEncoder``

    def pixel_values(self) -> torch.Tensor | None:
        """All tiles stacked in order (what ``pixel_values`` of the reference processor holds)."""
        if not self.tiles:
            return None
        return torch.cat([t.pixels for t in self.tiles], dim=0)

    @property
    def length(self) -> int:
        """All prompt tokens: text, template and image tokens."""
        return int(self.input_ids.shape[1])

    @property
    def text_tokens(self) -> int:
        """Every token that is not an image token (``<img>``/``</img>`` markers count as text)."""
        return self.length - self.image_tokens


def render_template(
    processor: Any,
    conversation: Conversation,
    tools: list[FunctionTool] | None = None,
    switch: dict[str, Any] | None = None,
) -> str:
    """The prompt text from the checkpoint's chat template, ending with the assistant turn's opening.

    ``tools`` go to the template's ``tools`` variable (templates without tool
    support ignore it; constrained decoding still makes the call valid).
    ``switch``: more template variables (``enable_thinking``).
    """
    messages = template_messages(conversation)
    extra: dict[str, Any] = {"tools": template_tools(tools)} if tools else {}
    extra.update(switch or {})
    if getattr(processor, "chat_template", None):
        return str(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra))
    return str(processor.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra))


class TiledPrompter:
    """InternVL family: intake's tiles in, ``<img><IMG_CONTEXT>×N</img>`` per image."""

    def __init__(self, processor: Any, config: Any, dtype: torch.dtype, device: str) -> None:
        tokenizer = processor.tokenizer
        self.processor = processor
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.device = device
        self.image_token: str = tokenizer.context_image_token
        self.start_token: str = tokenizer.start_image_token
        self.end_token: str = tokenizer.end_image_token
        self.image_token_id: int = int(config.image_token_id)
        vision = config.vision_config
        size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size
        self.tile_size = int(size)
        # Tokens one view becomes after pixel shuffle: 448/14 = 32 → 32² · 0.5² = 256.
        self.tokens_per_view = int((size // patch) ** 2 * config.downsample_ratio**2)
        image_processor = processor.image_processor
        self.pixel_spec = PixelSpec(
            tiles=True,
            tile_size=self.tile_size,
            mean=tuple(float(x) for x in image_processor.image_mean),  # type: ignore[arg-type]
            std=tuple(float(x) for x in image_processor.image_std),  # type: ignore[arg-type]
        )

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, Any] | None = None,
    ) -> Prompt:
        """Token ids with expanded image placeholders, and the stacked tiles."""
        text = render_template(self.processor, conversation, tools, switch)
        pieces = text.split(self.image_token)
        if len(pieces) - 1 != len(images):
            raise ValueError(f"the chat template wrote {len(pieces) - 1} image placeholders for {len(images)} images")
        out = [pieces[0]]
        image_tokens = 0
        for image, piece in zip(images, pieces[1:], strict=True):
            if image.pixel_values is None or image.pixel_values.shape[0] != image.plan.views:
                raise ValueError(f"image {image.index} was not prepared as {image.plan.views} tiles")
            n = image.plan.views * self.tokens_per_view
            image_tokens += n
            out.append(self.start_token + self.image_token * n + self.end_token + piece)
        ids = self.tokenizer("".join(out), return_tensors="pt")["input_ids"]
        tiles = [
            TiledImage(
                key=(image.sha256, image.plan, self.pixel_spec),
                # Copy: intake's arrays are shared with its cache and read-only.
                pixels=torch.tensor(np.asarray(image.pixel_values), device=self.device, dtype=self.dtype),
            )
            for image in images
        ]
        return Prompt(ids.to(self.device), {}, image_tokens, tiles)


class ProcessorPrompter:
    """Any other family: the checkpoint's own processor makes ids and pixels from decoded images."""

    def __init__(self, processor: Any, config: Any, dtype: torch.dtype, device: str) -> None:
        self.processor = processor
        self.dtype = dtype
        self.device = device
        token_id = getattr(config, "image_token_id", None)
        if token_id is None:
            token_id = getattr(config, "image_token_index", None)
        if token_id is None:
            token_id = getattr(processor, "image_token_id", None)
        self.image_token_id = None if token_id is None else int(token_id)
        self.pixel_spec = PixelSpec(tiles=False, full_image_max_side=FULL_IMAGE_MAX_SIDE)

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, Any] | None = None,
    ) -> Prompt:
        """Ids, pixels and image-token count, all from the processor."""
        text = render_template(self.processor, conversation, tools, switch)
        pil = []
        for image in images:
            if image.image is None:
                raise ValueError(f"image {image.index} was not prepared as a decoded image")
            pil.append(image.image)
        inputs = self.processor(text=[text], images=pil or None, return_tensors="pt")
        ids = inputs.pop("input_ids")
        inputs.pop("attention_mask", None)
        kwargs: dict[str, Any] = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(self.dtype)
            kwargs[key] = value
        image_tokens = 0 if self.image_token_id is None else int((ids == self.image_token_id).sum())
        return Prompt(ids.to(self.device), kwargs, image_tokens)

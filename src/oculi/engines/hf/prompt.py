"""Turning a conversation + prepared images into model inputs, per model family.

Every family renders the prompt with the checkpoint's own chat template (one
placeholder per image the model takes, where the image sits among the text).
Then:

- ``ViewPrompter`` (the families of ``oculi.families``): intake's SPEC §3
  views go straight to the model and each image costs exactly
  ``views × 256`` tokens. The template writes one placeholder per model
  image (``Family.model_images``), and each is expanded the way the family's
  own processor expands it (``Family.image_text``) — e.g. InternVL: ``<img>``
  + ``views × 256`` ``<IMG_CONTEXT>`` + ``</img>``; Gemma 3: a
  ``<start_of_image>`` + 256 soft tokens + ``<end_of_image>`` block per view;
  Qwen: ``<|image_pad|>`` × (tokens of that model image) for the grid image
  and again for the thumbnail. A family with multimodal rotary positions
  (``Family.mrope``) gets them computed here and the scheduler continues them.
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
from oculi.engines.common.template import render_template
from oculi.engines.hf.vision import ImageInput
from oculi.errors import ImageError, public_reason
from oculi.families import Family
from oculi.intake.types import PixelSpec, PreparedImage, ViewLayout

#: Largest side of the decoded image handed to processor-driven families.
FULL_IMAGE_MAX_SIDE = 2048


@dataclass
class Prompt:
    """Model-ready inputs of one request: token ids, pixels (tiles or processor kwargs), token counts."""

    input_ids: torch.Tensor  # [1, L]
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # for the prefill only
    image_tokens: int = 0
    images: list[ImageInput] = field(default_factory=list)  # view families: encoded by ``VisionEncoder``
    position_offset: int = 0  # Qwen's rope delta: a generated token at cache index i sits at position i + offset

    def pixel_values(self) -> torch.Tensor | None:
        """TILES families: all views stacked in order (what ``pixel_values`` of the reference processor holds)."""
        if not self.images:
            return None
        return torch.cat([image.pixels[0] for image in self.images], dim=0)

    @property
    def length(self) -> int:
        """All prompt tokens: text, template and image tokens."""
        return int(self.input_ids.shape[1])

    @property
    def text_tokens(self) -> int:
        """Every token that is not an image token (``<img>``/``</img>`` markers count as text)."""
        return self.length - self.image_tokens


class ViewPrompter:
    """A family of ``oculi.families``: intake's views in, the family's placeholders expanded (module docstring)."""

    def __init__(self, family: Family, processor: Any, model: Any, dtype: torch.dtype, device: str) -> None:
        tokenizer = processor.tokenizer
        config = model.config
        self.family = family
        self.processor = processor
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.device = device
        self.tokens_per_view = family.tokens_per_view(config)
        self.image_token_id = int(getattr(config, "image_token_id", None) or config.image_token_index)
        image_processor = processor.image_processor
        self.pixel_spec = family.pixel_spec(
            tuple(float(x) for x in image_processor.image_mean),  # type: ignore[arg-type]
            tuple(float(x) for x in image_processor.image_std),  # type: ignore[arg-type]
        )
        self.placeholder = family.image_text.placeholder
        self._patch = 0  # multimodal positions: pixels per patch side of the grids
        self._rope_index = None
        if family.mrope:
            self._patch = int(config.vision_config.patch_size)
            self._rope_index = model.model.get_rope_index  # a pure function of ids and grids

    def repeats(self, image: PreparedImage) -> int:
        """Placeholders the chat template writes for ``image``: one per image the model takes."""
        return len(self.family.model_images(image.plan))

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, Any] | None = None,
    ) -> Prompt:
        """Token ids with expanded placeholders, the images' pixels, and model kwargs for the prefill."""
        repeats = [self.repeats(image) for image in images]
        text = render_template(self.processor, conversation, tools, image_repeats=repeats, switch=switch)
        pieces = text.split(self.placeholder)
        if len(pieces) - 1 != sum(repeats):
            raise ValueError(f"the chat template wrote {len(pieces) - 1} image placeholders for {sum(repeats)}")
        out = [pieces[0]]
        inputs = []
        at = 1
        for image in images:
            expansions, pixels = self._expand(image)
            for expansion in expansions:
                out.append(expansion + pieces[at])
                at += 1
            inputs.append(ImageInput(key=(image.sha256, image.plan, self.pixel_spec), pixels=pixels))
        ids = self.tokenizer("".join(out), return_tensors="pt", add_special_tokens=False)["input_ids"]
        image_mask = ids == self.image_token_id
        image_tokens = int(image_mask.sum())
        expected = sum(image.plan.views for image in images) * self.tokens_per_view
        if image_tokens != expected:
            raise ValueError(f"the prompt holds {image_tokens} image tokens, not the {expected} the views cost")
        kwargs: dict[str, Any] = {}
        offset = 0
        if self.family.bidirectional_images:  # image tokens attend to each other both ways, as the processor marks
            kwargs[self.family.image_type_ids] = image_mask.long().to(self.device)
        if self._rope_index is not None and images:
            positions, deltas = self._rope_index(
                ids, mm_token_type_ids=image_mask.int(), image_grid_thw=_grids(inputs, self._patch)
            )
            kwargs["position_ids"] = positions.to(self.device)
            offset = int(deltas.reshape(-1)[0])
        return Prompt(ids.to(self.device), kwargs, image_tokens, inputs, position_offset=offset)

    def _expand(self, image: PreparedImage) -> tuple[list[str], tuple[torch.Tensor, ...]]:
        """The text each of ``image``'s placeholders becomes, and its pixels as model-dtype tensors."""
        views = image.plan.views
        text = self.family.image_text
        expansions = [text.expand(n * self.tokens_per_view) for n in self.family.model_images(image.plan)]
        if self.family.layout is ViewLayout.GRID:
            if image.model_images is None or len(image.model_images) != len(expansions):
                raise ValueError(f"image {image.index} was not prepared as a grid image and a thumbnail")
            return expansions, tuple(self._tensor(array) for array in image.model_images)
        if image.pixel_values is None or image.pixel_values.shape[0] != views:
            raise ValueError(f"image {image.index} was not prepared as {views} views")
        return expansions, (self._tensor(image.pixel_values),)

    def _tensor(self, array: Any) -> torch.Tensor:
        # Copy: intake's arrays are shared with its cache and read-only.
        return torch.tensor(np.asarray(array), device=self.device, dtype=self.dtype)


def _grids(inputs: Sequence[ImageInput], patch: int) -> torch.Tensor:
    """``image_grid_thw`` of every model image, in order: (1, H / patch, W / patch)."""
    return torch.tensor([[1, p.shape[1] // patch, p.shape[2] // patch] for i in inputs for p in i.pixels])


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
        text = render_template(self.processor, conversation, tools, switch=switch)
        pil = []
        for image in images:
            if image.image is None:
                raise ValueError(f"image {image.index} was not prepared as a decoded image")
            pil.append(image.image)
        try:
            inputs = self.processor(text=[text], images=pil or None, return_tensors="pt")
        except ValueError as exc:  # e.g. Qwen2-VL's resize refuses a 2048×1 strip: the image's fault, a 400
            if not pil:
                raise
            raise ImageError(
                f"the model's image processor cannot take an image of this shape ({public_reason(exc)})."
            ) from exc
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

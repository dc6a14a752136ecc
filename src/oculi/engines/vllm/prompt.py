"""Conversation + prepared images → a vLLM prompt (token ids, images, their cache identities).

- A ``STACK`` family, InternVL (``TiledPrompter``): the checkpoint's chat
  template writes one ``<IMG_CONTEXT>`` per image; the images are intake's
  SPEC §3 views as ``TileStack``s, which oculi's tiled processor
  (``tiles.py``) expands to ``<img>`` + ``views × 256`` ``<IMG_CONTEXT>`` +
  ``</img>``. The counts are known here, before vLLM sees the request (the
  context check needs them).
- Every other family (``ViewImagesPrompter``): intake's SPEC §3 views,
  rendered at the family's view size as uint8 images, one per model image
  (``Family.model_images``; Qwen: the grid as one image and the thumbnail;
  Gemma 3: each view), go to vLLM's own processor for the family, which takes
  them at their size (the engine pins its processor options,
  ``Family.vllm_processor_kwargs``), so each view is exactly 256 tokens; the
  chat template writes one placeholder per model image.
- Any other model (``ProcessorPrompter``): the decoded images go to vLLM's
  own processor for the checkpoint; the counts are what it produced (read
  back from the prompt ids).

Each image's identity for vLLM's processor / encoder / prefix caches is
oculi's content hash plus the view plan (the same bytes at another ``detail``
are other pixels), so nothing is hashed twice and a stored conversation's
earlier images hit the caches on the next turn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from oculi.domain import Conversation, FunctionTool
from oculi.engines.common.template import render_template
from oculi.families import Family
from oculi.intake.types import TOKENS_PER_TILE, PreparedImage, ViewLayout

# torch warns (once) that a tensor over a read-only array must not be written: vLLM does not (see ``build``).
warnings.filterwarnings("ignore", message="The given NumPy array is not writable", module=__name__)

#: ``<img>`` and ``</img>`` around each image's context tokens (they count as text tokens, as in the HF engine).
MARKERS_PER_IMAGE = 2


@dataclass
class VLLMPrompt:
    """What ``AsyncLLM.generate`` takes, plus the token counts when they are known in advance."""

    prompt: dict[str, Any]
    length: int | None = None  # all prompt tokens after image expansion (tiled family)
    image_tokens: int | None = None
    uuids: list[str] = field(default_factory=list)


def image_uuid(image: PreparedImage) -> str:
    """The image's cache identity: content hash + the views it was cut into."""
    plan = image.plan
    return f"{image.sha256}:{plan.cols}x{plan.rows}{'+thumb' if plan.thumbnail else ''}"


def vllm_prompt(ids: list[int], images: list[Any], uuids: list[str]) -> dict[str, Any]:
    """``AsyncLLM.generate``'s prompt: token ids, and the images with their cache identities when there are any."""
    prompt: dict[str, Any] = {"prompt_token_ids": ids}
    if images:
        prompt["multi_modal_data"] = {"image": images}
        prompt["multi_modal_uuids"] = {"image": uuids}
    return prompt


class TiledPrompter:
    """A ``STACK`` family (InternVL): intake's tiles as ``TileStack``s (see module docstring)."""

    def __init__(self, processor: Any, config: Any, tokens_per_view: int) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_token_id = int(config.image_token_id)
        self.tokens_per_view = tokens_per_view

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, bool] | None = None,
    ) -> VLLMPrompt:
        """Token ids (``switch``: template variables such as ``enable_thinking``) and the tiles."""
        import torch

        from oculi.engines.vllm.tiles import TileStack

        text = render_template(self.processor, conversation, tools, switch=switch)
        ids: list[int] = list(self.tokenizer(text)["input_ids"])
        placeholders = ids.count(self.image_token_id)
        if placeholders != len(images):
            raise ValueError(f"the chat template wrote {placeholders} image placeholders for {len(images)} images")
        stacks = []
        for image in images:
            if image.pixel_values is None or image.pixel_values.shape[0] != image.plan.views:
                raise ValueError(f"image {image.index} was not prepared as {image.plan.views} tiles")
            # No copy (a 7-view image is 17 MB): intake's array is shared with its cache and read-only, and vLLM
            # only reads it (serialises it to its engine core; the model gets its own copy there).
            stacks.append(TileStack(torch.from_numpy(image.pixel_values)))
        image_tokens = sum(image.plan.views * self.tokens_per_view for image in images)
        length = len(ids) - placeholders + image_tokens + MARKERS_PER_IMAGE * len(images)
        uuids = [image_uuid(image) for image in images]
        return VLLMPrompt(vllm_prompt(ids, stacks, uuids), length, image_tokens, uuids)


class ViewImagesPrompter:
    """A family's SPEC §3 views as images for vLLM's processor, one per model image (see module docstring)."""

    def __init__(self, processor: Any, family: Family, image_token_id: int) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = family
        self.image_token_id = image_token_id

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, bool] | None = None,
    ) -> VLLMPrompt:
        """Token ids (``switch``: template variables such as ``enable_thinking``) and the views as images."""
        from PIL import Image

        pil: list[Any] = []
        uuids: list[str] = []
        repeats = []
        for image in images:
            if self.family.layout is ViewLayout.GRID:
                arrays = image.model_images
            else:
                arrays = None if image.pixel_values is None else tuple(image.pixel_values)
            if arrays is None:
                raise ValueError(f"image {image.index} was not prepared as {self.family.name} views")
            if len(arrays) != len(self.family.model_images(image.plan)):
                raise ValueError(f"image {image.index} was not prepared as {self.family.name} views")
            repeats.append(len(arrays))
            pil.extend(Image.fromarray(array) for array in arrays)
            uuids.extend(f"{image_uuid(image)}:{k}" for k in range(len(arrays)))
        text = render_template(self.processor, conversation, tools, image_repeats=repeats, switch=switch)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        image_tokens = sum(image.plan.views for image in images) * TOKENS_PER_TILE
        length = None
        if self.family.image_text.in_place:  # each placeholder becomes that image's tokens, nothing else
            length = len(ids) - ids.count(self.image_token_id) + image_tokens
        return VLLMPrompt(vllm_prompt(ids, pil, uuids), length, image_tokens, uuids)


class ProcessorPrompter:
    """Any other family: decoded images for vLLM's processor; counts come back with the output."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def build(
        self,
        conversation: Conversation,
        images: Sequence[PreparedImage],
        tools: list[FunctionTool] | None = None,
        switch: dict[str, bool] | None = None,
    ) -> VLLMPrompt:
        """Token ids (``switch``: template variables such as ``enable_thinking``) and the decoded images."""
        pil = []
        for image in images:
            if image.image is None:
                raise ValueError(f"image {image.index} was not prepared as a decoded image")
            pil.append(image.image)
        uuids = [image_uuid(image) for image in images]
        ids = list(
            self.processor.tokenizer(render_template(self.processor, conversation, tools, switch=switch))["input_ids"]
        )
        return VLLMPrompt(vllm_prompt(ids, pil, uuids), uuids=uuids)

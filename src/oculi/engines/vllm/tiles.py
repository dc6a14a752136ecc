"""oculi's SPEC §3 tiles inside vLLM: a multimodal processor, and the model class that uses it.

vLLM's own InternVL processor (``interns1.InternS1MultiModalProcessor``)
re-tiles each image with the checkpoint's image processor: its options are
per request, not per image, and it drops the thumbnail on a 1×1 grid, so it
cannot produce SPEC §3's views. Instead, oculi hands vLLM the views intake
already made (``TileStack``: ``[views, 3, 448, 448]`` normalised float32, one
per image, each with its own ``detail``). ``TiledProcessor`` turns them into
exactly the tensors the stock processor would have produced
(``pixel_values`` flattened over images, in the model's dtype;
``image_num_patches``; ``image_token_id``), so the stock prompt replacement writes
``<img>`` + ``views × 256`` ``<IMG_CONTEXT>`` + ``</img>`` per image and the
stock model code encodes the views: the model sees what usage reports.

``OculiInternVLForConditionalGeneration`` is vLLM's InternVL model class with
this processor registered; ``oculi.engines.vllm.plugin.register`` names it
to vLLM's ``ModelRegistry`` and the engine chooses it through ``hf_overrides``.
Any other image type (the dummy images vLLM profiles memory with) goes through
the stock processor unchanged.

Importing this module imports vLLM; ``oculi.engines.vllm.engine`` imports it
only when a vLLM engine loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import BatchFeature
from vllm.model_executor.models.interns1 import (
    InternS1DummyInputsBuilder,
    InternS1ForConditionalGeneration,
    InternS1MultiModalProcessor,
    InternS1ProcessingInfo,
)
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.multimodal.parse import ImageProcessorItems, ImageSize, ModalityDataItems, MultiModalDataParser


@dataclass(frozen=True)
class TileStack:
    """One image as SPEC §3 views: ``pixels`` ``[views, 3, S, S]`` (grid tiles row by row, then the thumbnail)."""

    pixels: torch.Tensor

    @property
    def views(self) -> int:
        return int(self.pixels.shape[0])


class TileStackItems(ImageProcessorItems):
    """The images of one request, each a ``TileStack`` (vLLM's item list for the ``image`` modality)."""

    def __init__(self, data: Sequence[Any]) -> None:
        super().__init__(data)

    def get_image_size(self, item_idx: int) -> ImageSize:
        stack = self.get(item_idx)
        if isinstance(stack, TileStack):
            side = int(stack.pixels.shape[-1])
            return ImageSize(width=side, height=side * stack.views)
        return super().get_image_size(item_idx)


class TiledDataParser(MultiModalDataParser):
    """Accepts ``TileStack`` images (one, or a list); anything else is parsed as vLLM does."""

    def _parse_image_data(self, data: Any) -> ModalityDataItems[Any, Any] | None:
        if isinstance(data, TileStack):
            return TileStackItems([data])
        if isinstance(data, list) and data and all(isinstance(d, TileStack) for d in data):
            return TileStackItems(data)
        return super()._parse_image_data(data)


class TiledProcessingInfo(InternS1ProcessingInfo):
    """vLLM's InternVL processing info with the ``TileStack``-aware parser."""

    def get_data_parser(self) -> MultiModalDataParser:
        return TiledDataParser(
            expected_hidden_size=self._get_expected_hidden_size(),
            allow_missing_mm_embeddings=self.allow_missing_mm_embeddings,
        )


class TiledProcessor(InternS1MultiModalProcessor):
    """``TileStack`` images become the stock processor's outputs without re-tiling (see module docstring)."""

    def _apply_hf_processor_main(self, mm_items: Any, hf_kwargs: Mapping[str, object]) -> BatchFeature:
        images = mm_items.get("image") if "image" in mm_items else None
        if not isinstance(images, TileStackItems) or not all(isinstance(s, TileStack) for s in images.get_all()):
            return super()._apply_hf_processor_main(mm_items, hf_kwargs)
        if any(modality != "image" for modality in mm_items):
            raise ValueError("oculi's tiled InternVL processor takes images only")
        stacks: list[Any] = list(images.get_all())
        image_token_id = int(self.info.get_hf_config().image_token_id)
        # One image (the common case): its tensor as is, no ``torch.cat`` copy of all its views.
        pixels = stacks[0].pixels if len(stacks) == 1 else torch.cat([s.pixels for s in stacks], dim=0)
        return BatchFeature(
            {
                # In the model's dtype, as vLLM's ``call_hf_processor`` casts the stock processor's output: a bf16
                # model gets half the bytes to ship to its engine core and no cast in the worker.
                "pixel_values": pixels.to(self.info.ctx.model_config.dtype),
                "image_num_patches": torch.tensor([s.views for s in stacks]),
                "image_token_id": torch.tensor(image_token_id),
            }
        )


@MULTIMODAL_REGISTRY.register_processor(
    TiledProcessor, info=TiledProcessingInfo, dummy_inputs=InternS1DummyInputsBuilder
)
class OculiInternVLForConditionalGeneration(InternS1ForConditionalGeneration):
    """vLLM's InternVL (HF layout) model, fed SPEC §3 views by ``TiledProcessor``; weights load unchanged."""

"""Image encodings for the view families (``oculi.families``), cached by content hash.

The vision tower is about half the cost of a request's prefill. A
conversation re-sends its earlier images on every turn, so encodings are
kept by (image sha256, tile plan, pixel spec) — everything the views are a
pure function of — in a byte-bounded LRU. New images of a request are encoded
together in one batch, like the reference model does, and handed to the model
through ``mm_encoder_outputs`` in place of ``pixel_values`` (transformers'
own hook for precomputed encodings; every family here accepts it).

What one image's encoding is depends on the family's layout:
- ``TILES`` (InternVL, Gemma 3, Gemma 4): ``[views, 256, D]``, one row per view
  (a family whose tower takes other inputs than the views says how:
  ``Family.tower_inputs``, e.g. Gemma 4's flat patches);
- ``GRID`` (Qwen2.5-VL, Qwen3-VL): one ``[tokens, D]`` tensor per model image
  (the grid, the thumbnail), plus Qwen3-VL's deepstack features per layer.
Qwen's patches are made here, only for images the cache misses.

Used only from the scheduler thread, so no locking.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from oculi.families import TowerInputs
from oculi.intake.types import ViewLayout


@dataclass(frozen=True)
class ImageInput:
    """One image's pixels for the model and the key its encoding is cached under.

    ``pixels``: ``TILES`` — ``[views, 3, S, S]``; ``GRID`` — one ``[3, H, W]``
    tensor per model image (patched only when encoded).
    """

    key: Hashable
    pixels: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Encoding:
    """One image's vision-tower output: its tensors and (Qwen3-VL) deepstack features per layer."""

    tensors: tuple[torch.Tensor, ...]
    deepstack: tuple[tuple[torch.Tensor, ...], ...] = ()

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.tensors, *(x for d in self.deepstack for x in d)))


def patchify(image: torch.Tensor, patch: int, merge: int, temporal: int) -> torch.Tensor:
    """A normalised ``[3, H, W]`` image as Qwen's flat patches ``[H/p · W/p, 3·t·p·p]``.

    The same layout as ``Qwen2VLImageProcessor.patchify``: merge-window
    order (rows of ``merge × merge`` blocks), each patch repeated over the
    temporal axis (an image is one frame).
    """
    channels, height, width = image.shape
    gh, gw = height // patch, width // patch
    patches = image.reshape(channels, gh // merge, merge, patch, gw // merge, merge, patch)
    patches = patches.permute(1, 4, 2, 5, 0, 3, 6).unsqueeze(5)
    patches = patches.expand(*patches.shape[:5], temporal, patch, patch)
    return patches.reshape(gh * gw, channels * temporal * patch * patch)


class VisionEncoder:
    """Runs the vision tower on new images, reusing encodings of images seen before."""

    def __init__(
        self, model: Any, layout: ViewLayout, capacity_bytes: int, tower_inputs: TowerInputs | None = None
    ) -> None:
        self.model = model
        self.layout = layout
        self.tower_inputs = tower_inputs
        self.capacity = capacity_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[Hashable, Encoding] = OrderedDict()
        config = model.config
        self._feature_kwargs: dict[str, Any] = {}
        if hasattr(config, "vision_feature_select_strategy"):  # InternVL
            self._feature_kwargs = {
                "vision_feature_layer": config.vision_feature_layer,
                "vision_feature_select_strategy": config.vision_feature_select_strategy,
            }
        vision: Any = getattr(config, "vision_config", None)
        if layout is ViewLayout.GRID:  # Qwen's patch geometry
            self._patch = int(vision.patch_size)
            self._merge = int(vision.spatial_merge_size)
            self._temporal = int(vision.temporal_patch_size)

    def model_kwargs(self, images: Sequence[ImageInput]) -> dict[str, Any]:
        """``mm_encoder_outputs`` for the model's forward: every image's encoding, in order."""
        found: dict[int, Encoding] = {}
        for i, image in enumerate(images):
            cached = self._cache.get(image.key)
            if cached is not None:
                self._cache.move_to_end(image.key)
                found[i] = cached
        missing = [i for i in range(len(images)) if i not in found]
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            encode = self._encode_grid if self.layout is ViewLayout.GRID else self._encode_tiles
            for i, encoding in zip(missing, encode([images[i] for i in missing]), strict=True):
                found[i] = encoding
                self._remember(images[i].key, encoding)
        return {"mm_encoder_outputs": {"image": self._assemble([found[i] for i in range(len(images))])}}

    def _encode_tiles(self, images: list[ImageInput]) -> list[Encoding]:
        pixels = torch.cat([image.pixels[0] for image in images], dim=0)
        inputs = {"pixel_values": pixels} if self.tower_inputs is None else self.tower_inputs(pixels, self.model.config)
        encoded = self.model.get_image_features(**inputs, return_dict=True, **self._feature_kwargs)
        rows = encoded.pooler_output
        if isinstance(rows, (tuple, list)):  # one [256, D] tensor a view (Gemma 4 splits its output per image)
            rows = torch.stack(list(rows), dim=0)
        out, offset = [], 0
        for image in images:
            views = image.pixels[0].shape[0]
            # clone: a slice would pin the whole batch's tensor in the cache
            out.append(Encoding((rows[offset : offset + views].clone(),)))
            offset += views
        return out

    def _encode_grid(self, images: list[ImageInput]) -> list[Encoding]:
        patches, grids = [], []
        for image in images:
            for pixels in image.pixels:
                patches.append(patchify(pixels, self._patch, self._merge, self._temporal))
                grids.append([1, pixels.shape[1] // self._patch, pixels.shape[2] // self._patch])
        encoded = self.model.get_image_features(
            pixel_values=torch.cat(patches, dim=0),
            image_grid_thw=torch.tensor(grids, device=patches[0].device),
            return_dict=True,
        )
        per_image = list(encoded.pooler_output)
        deepstack = [list(layer) for layer in (getattr(encoded, "deepstack_features", None) or [])]
        out, offset = [], 0
        for image in images:
            n = len(image.pixels)
            span = slice(offset, offset + n)
            out.append(
                Encoding(
                    tuple(t.clone() for t in per_image[span]),
                    tuple(tuple(t.clone() for t in layer[span]) for layer in deepstack),
                )
            )
            offset += n
        return out

    def _assemble(self, encodings: list[Encoding]) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        if self.layout is ViewLayout.TILES:
            features = torch.cat([e.tensors[0] for e in encodings], dim=0)
            if self.tower_inputs is not None:  # a model that reads one tensor per image (Gemma 4 concatenates them)
                return BaseModelOutputWithPooling(pooler_output=tuple(features))  # type: ignore[arg-type]
            # (transformers 5.19 annotates pooler_output as FloatTensor, a subtype torch.cat's result is not typed as)
            return BaseModelOutputWithPooling(pooler_output=features)  # type: ignore[arg-type]
        pooled = tuple(t for e in encodings for t in e.tensors)
        layers = len(encodings[0].deepstack) if encodings else 0
        if not layers:
            return BaseModelOutputWithPooling(pooler_output=pooled)  # type: ignore[arg-type]
        from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures

        # Qwen3-VL reads them as ``deepstack_features[layer][image]``.
        deepstack = [tuple(t for e in encodings for t in e.deepstack[k]) for k in range(layers)]
        return BaseModelOutputWithDeepstackFeatures(pooler_output=pooled, deepstack_features=deepstack)  # type: ignore[arg-type]

    def _remember(self, key: Hashable, encoding: Encoding) -> None:
        nbytes = encoding.nbytes
        if nbytes > self.capacity:
            return
        self._cache[key] = encoding
        self.size += nbytes
        while self.size > self.capacity:
            _, old = self._cache.popitem(last=False)
            self.size -= old.nbytes

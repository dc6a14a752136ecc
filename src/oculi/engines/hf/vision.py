"""Image encodings for tiled (InternVL-family) models, cached by content hash.

The vision tower is about half the cost of a request's prefill. A
conversation re-sends its earlier images on every turn, so encodings are
kept by (image sha256, tile plan, pixel spec) — everything the tiles are a
pure function of — in a byte-bounded LRU. New images of a request are encoded
together in one batch, like the reference model does, and handed to the model
through ``mm_encoder_outputs`` in place of ``pixel_values``.

Used only from the scheduler thread, so no locking.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TiledImage:
    """One image's tiles and the key its encoding is cached under."""

    key: Hashable
    pixels: torch.Tensor  # [views, 3, S, S], model dtype and device


class TileEncoder:
    """Runs the vision tower on tiles, reusing encodings of images seen before."""

    def __init__(self, model: Any, capacity_bytes: int) -> None:
        self.model = model
        self.capacity = capacity_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        config = model.config
        self.feature_layer = config.vision_feature_layer
        self.select_strategy = config.vision_feature_select_strategy

    def model_kwargs(self, images: Sequence[TiledImage]) -> dict[str, Any]:
        """``mm_encoder_outputs`` for the model's forward: every image's encoding, in order."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        found: dict[int, torch.Tensor] = {}
        for i, image in enumerate(images):
            cached = self._cache.get(image.key)
            if cached is not None:
                self._cache.move_to_end(image.key)
                found[i] = cached
        missing = [i for i in range(len(images)) if i not in found]
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            pixels = torch.cat([images[i].pixels for i in missing], dim=0)
            encoded = self.model.get_image_features(
                pixel_values=pixels,
                vision_feature_layer=self.feature_layer,
                vision_feature_select_strategy=self.select_strategy,
                return_dict=True,
            ).pooler_output
            offset = 0
            for i in missing:
                views = images[i].pixels.shape[0]
                found[i] = encoded[offset : offset + views]
                offset += views
                self._remember(images[i].key, found[i])
        features = torch.cat([found[i] for i in range(len(images))], dim=0)
        # (transformers 5.19 annotates pooler_output as FloatTensor, a subtype torch.cat's result is not typed as)
        output = BaseModelOutputWithPooling(pooler_output=features)  # type: ignore[arg-type]
        return {"mm_encoder_outputs": {"image": output}}

    def _remember(self, key: Hashable, encoding: torch.Tensor) -> None:
        nbytes = encoding.numel() * encoding.element_size()
        if nbytes > self.capacity:
            return
        self._cache[key] = encoding.clone()  # a slice would pin the whole batch's tensor
        self.size += nbytes
        while self.size > self.capacity:
            _, old = self._cache.popitem(last=False)
            self.size -= old.numel() * old.element_size()

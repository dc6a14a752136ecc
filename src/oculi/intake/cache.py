"""A bounded content-hash cache, so the same image bytes are decoded and tiled once.

Keys include the sha256 of the encoded bytes, so a hit is always the same
image, however it arrived (data URL, URL, stored reference). Entries are
evicted least-recently-used once their total size passes the byte budget.
Cached arrays are made read-only because every request that hits shares them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from threading import Lock
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

ENTRY_OVERHEAD = 256  # bytes charged per entry for the key and bookkeeping

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class CachedPixels:
    """What decoding and tiling produced for one (image, plan, pixel spec)."""

    pixel_values: np.ndarray | None
    image: Image.Image | None
    model_images: tuple[np.ndarray, ...] | None = None

    @property
    def nbytes(self) -> int:
        """Memory the entry holds, for the byte budget."""
        size = ENTRY_OVERHEAD
        if self.pixel_values is not None:
            size += self.pixel_values.nbytes
        for array in self.model_images or ():
            size += array.nbytes
        if self.image is not None:
            size += self.image.width * self.image.height * len(self.image.getbands())
        return size


class ImageCache(Generic[K, V]):
    """LRU by bytes. Thread-safe; a zero budget disables it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = Lock()

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now most recently used), or ``None``."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key: K, value: V, nbytes: int) -> None:
        """Store ``value`` costing ``nbytes``; values larger than the whole budget are not kept."""
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _key, (_value, size) = self._entries.popitem(last=False)
                self._bytes -= size

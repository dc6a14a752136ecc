"""The suite's pictures and their judge: the SPEC §3 token oracle, test images, the image server.

The oracle is written from SPEC §3 alone (InternVL's dynamic-tiling rule,
448 px tiles, 256 tokens a tile, a thumbnail always added), independently of
oculi's intake, so that it can judge what the clients report. The image
server stands in for science.nasa.gov on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from spec_oracle import TILE, expected_image_tokens, tile_grid

__all__ = ["TILE", "expected_image_tokens", "tile_grid"]

MiB = 1024 * 1024


# --- test images -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteImage:
    """An image file the suite made: where it is, its size, and its bytes."""

    path: Path
    width: int
    height: int

    def tokens(self, detail: str = "auto") -> int:
        """SPEC §3 image tokens of this image at ``detail``."""
        return expected_image_tokens(self.width, self.height, detail)


def make_image(path: Path, width: int, height: int, fmt: str = "PNG", seed: int = 0) -> SuiteImage:
    """A real, decodable picture (gradients + noise, so it compresses like a photo) saved as ``fmt``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * x / max(width - 1, 1)
    green = 255 * y / max(height - 1, 1)
    blue = 128 + 127 * np.sin((x + y) / 37.0)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 24, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return SuiteImage(path, width, height)


def gif_bytes() -> bytes:
    """A real GIF (a type oculi must refuse, whatever label it arrives with)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, "GIF")
    return buf.getvalue()


def oversize_png_bytes(limit: int = 20 * MiB) -> bytes:
    """A PNG signature and header followed by padding: one byte more than ``limit`` (SPEC: 20 MiB)."""
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
    return head + b"\x00" * (limit + 1 - len(head))


#: Where the seed's NASA image lives; the image server answers on the same path.
NASA_PATH = "/wp-content/uploads/2023/09/web-first-images-release.png"
#: GIF bytes behind a ``.png`` name and an ``image/png`` label: oculi must go by the signature.
GIF_PATH = "/disguised-gif.png"
#: One byte over 20 MiB, announced by Content-Length.
HUGE_PATH = "/huge.png"


@dataclass(frozen=True)
class Images:
    """The suite's images and where the image server serves them."""

    nasa: SuiteImage  # 1920×1080 PNG, several MB, like the seed's Webb picture: 2×1 tiles when high
    photo: SuiteImage  # 800×1200 PNG, sent as base64 labelled image/jpeg: 2×3 tiles when high
    comic_cat: SuiteImage  # 640×480 PNG, the AI SDK example's ./data/comic-cat.png: auto → high, 3×2
    first: SuiteImage  # 1000×500 PNG, first of two: 2×1 tiles when high
    second: SuiteImage  # 300×300 JPEG, second of two: 1×1 tile when high, low when auto
    gif: Path
    huge: Path
    server: ImageServer

    @property
    def nasa_url(self) -> str:
        """The stand-in for the seed's NASA URL."""
        return self.server.url(NASA_PATH)


# --- the image server --------------------------------------------------------------------------


class ImageServer:
    """Serves fixed bytes by path on 127.0.0.1 (stands in for science.nasa.gov)."""

    def __init__(self, files: Mapping[str, tuple[bytes, str]]) -> None:
        self.files = dict(files)
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                item = owner.files.get(self.path.split("?", 1)[0])
                if item is None:
                    self.send_error(404)
                    return
                body, content_type = item
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may hang up early (oversize by Content-Length): that is expected.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """The full URL of ``path``."""
        return self.base_url + path

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def make_noise_png(path: Path, at_least: int) -> SuiteImage:
    """A square PNG of pure noise (incompressible), just over ``at_least`` bytes: a big but valid image."""
    import numpy as np
    from PIL import Image

    side = math.ceil(math.sqrt(at_least / 3))
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path, "PNG", compress_level=1)
    return SuiteImage(path, side, side)

"""``Intake``: the one entry point from image references to model-ready pixels.

    ImagePart (data URL | http(s) URL | stored:<sha256> | fileid:<file id>)
      → bytes            data URL decoded, URL fetched (fetch.py), or loaded from the store
                         (uploaded files through ``load_file``, which checks the owner; a file
                         whose header the store kept is planned and charged before it is read)
      → validated        signature sniffed (JPEG/PNG only), size and pixel limits (decode.py)
      → tile plan        SPEC §3 grid and token count from the header alone (tiling.py); under the
                         ``content`` auto-detail policy a large ``auto`` image is decoded first and
                         the level chosen from its pixels and the request's text (detail.py)
      → pixel tiles      decoded, oriented, RGB, resized, cut, normalised (decode.py + tiling.py)

Every API surface calls ``prepare`` (or ``plan`` to count tokens without
pixels). Images of one request are processed concurrently; CPU work runs in a
thread pool (Pillow and numpy release the GIL), never on the event loop. The
content-hash cache (cache.py) makes repeated images free. Errors are
``ImageError`` subclasses naming the image's index in the request.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from oculi.domain import Detail, ImageHeader, ImagePart
from oculi.errors import ImageError, ImageTooLarge
from oculi.intake.cache import ENTRY_OVERHEAD, CachedPixels, ImageCache
from oculi.intake.cost import image_cost
from oculi.intake.decode import check_pixels, check_type, decode_data_url, describe_bytes, read_header
from oculi.intake.detail import AutoDetail, ContentVerdict, DetailChoice, choose_early, choose_from
from oculi.intake.fetch import Fetcher
from oculi.intake.render import decide_and_render, decode_for, render_pixels
from oculi.intake.tiling import plan_tiles
from oculi.intake.types import FileImage, PixelSpec, PreparedImage, TilePlan
from oculi.metrics import Metrics, watch_cache
from oculi.settings import Settings

LoadStored = Callable[[str], Awaitable[bytes | None]]
#: An uploaded file by id, for the caller's key, before any byte is read; raises ``FileNotFound`` / ``ImageTooLarge``.
LoadFile = Callable[[str], Awaitable[FileImage]]
#: Called with the bytes an image will take once decoded and the image's name ("image 2 (640×480)"),
#: before it is decoded; may refuse by raising.
Charge = Callable[[int, str], None]
T = TypeVar("T")
_PixelKey = tuple[str, TilePlan, PixelSpec]
PLAN_ONLY = PixelSpec(tiles=False)


class Intake:
    """Turns the image parts of a request into ``PreparedImage``s. One per server; close with ``aclose``."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings  # read by callers for the limits intake enforces (e.g. max_image_bytes)
        self._metrics = metrics
        self._fetcher = Fetcher(settings)
        workers = settings.decode_workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oculi-intake")
        self._pixels: ImageCache[_PixelKey, CachedPixels] = ImageCache(settings.image_cache_bytes)
        # Headers are tiny; a slice of the budget holds thousands of them.
        self._headers: ImageCache[str, ImageHeader] = ImageCache(settings.image_cache_bytes // 64)
        self._policy = AutoDetail(settings.auto_detail)
        # What the content policy saw in an image, by content hash: decided once per image.
        self._verdicts: ImageCache[str, ContentVerdict] = ImageCache(settings.image_cache_bytes // 64)
        self._rendering: dict[_PixelKey, asyncio.Future[CachedPixels]] = {}
        if metrics is not None:
            watch_cache(metrics, "image_pixels", lambda: self._pixels.nbytes, self._pixels.max_bytes)
            watch_cache(metrics, "image_headers", lambda: self._headers.nbytes, self._headers.max_bytes)

    async def aclose(self) -> None:
        """Close the fetcher's connections and stop the decode threads."""
        await self._fetcher.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def prepare(
        self,
        images: Sequence[ImagePart],
        spec: PixelSpec,
        *,
        load_stored: LoadStored | None = None,
        load_file: LoadFile | None = None,
        charge: Charge | None = None,
        question: str = "",
    ) -> list[PreparedImage]:
        """All images of one request, in request order, with the pixels ``spec`` asks for.

        ``PreparedImage.index`` is the image's position in ``images``. The
        first image to fail raises its ``ImageError`` (naming its index; the
        lowest index if several failed at once) and the others are cancelled,
        so a bad image never waits for a slow download. ``charge`` is told
        what each image not yet in the cache will cost decoded, before its
        pixels are decoded (the admission budget). ``stored:<sha256>``
        parts are read through ``load_stored``, ``fileid:`` parts through
        ``load_file``; an error about a file's bytes names the file id. ``pixel_values`` arrays are
        shared with the cache and read-only: copy before modifying. ``question``: the request's
        text, which the ``content`` auto-detail policy reads (``detail.asks_for_detail``).
        """
        fetches: dict[str, asyncio.Task[bytes]] = {}
        tasks = [
            asyncio.ensure_future(self._prepare_one(i, part, spec, fetches, load_stored, load_file, charge, question))
            for i, part in enumerate(images)
        ]
        try:
            return await _first_error_wins(tasks)
        finally:
            for fetch in fetches.values():
                fetch.cancel()

    async def plan(
        self,
        image: ImagePart,
        *,
        index: int = 0,
        load_stored: LoadStored | None = None,
        load_file: LoadFile | None = None,
        spec: PixelSpec = PLAN_ONLY,
        question: str = "",
    ) -> PreparedImage:
        """Size, tile plan and image tokens of one image, without rendering pixels (token counting).

        Reads only the header, so a truncated body is not detected here
        (``prepare`` would refuse it) — except where the ``content`` policy
        must look at the image: it is decoded then, at the size ``prepare``
        decodes it for ``spec``, and the level it gets is the one ``prepare``
        gives it for the same ``question`` (the verdict is cached by hash).
        """
        try:
            data, sha256, header = await self._load(image, None, load_stored, await self._file(image, load_file))
            choice = self._choose(header, sha256, image.detail, question)
            if choice is None:
                choice, tile_plan, _pixels = await self._assess(data, sha256, header, spec, render=False)
            else:
                tile_plan = self._plan(header, choice, spec)
        except ImageError as exc:
            raise _at_index(exc, index) from exc
        return PreparedImage(
            index, sha256, data, header.mime, header.width, header.height, tile_plan, reason=choice.reason.value
        )

    # --- one image -----------------------------------------------------------------------

    async def _prepare_one(
        self,
        index: int,
        part: ImagePart,
        spec: PixelSpec,
        fetches: dict[str, asyncio.Task[bytes]],
        load_stored: LoadStored | None,
        load_file: LoadFile | None,
        charge: Charge | None = None,
        question: str = "",
    ) -> PreparedImage:
        try:
            file = await self._file(part, load_file)
            if file is not None and file.header is not None:
                # The store kept the header at upload: plan and charge before reading a byte of the file.
                sha256, header = file.sha256, file.header
                try:
                    check_pixels(header.width, header.height, self.settings.max_image_pixels)
                except ImageError as exc:
                    raise type(exc)(f"file '{file.file_id}': {exc.message}", param=exc.param) from exc
                choice = self._choose(header, sha256, part.detail, question)
                tile_plan = self._plan(header, choice, spec)
                self._charge(charge, index, part, header, sha256, tile_plan, spec)
                data = await file.read()
            else:
                data, sha256, header = await self._load(part, fetches, load_stored, file)
                choice = self._choose(header, sha256, part.detail, question)
                tile_plan = self._plan(header, choice, spec)
                self._charge(charge, index, part, header, sha256, tile_plan, spec)
            if choice is None:  # the content policy looks at the pixels it decodes (charged as high)
                choice, tile_plan, pixels = await self._assess(data, sha256, header, spec, render=True)
                cache = "none" if pixels is None else "miss"
            else:
                pixels, cache = await self._pixels_for(data, sha256, header, tile_plan, spec)
        except ImageError as exc:
            raise _at_index(exc, index) from exc
        self._count(tile_plan, cache)
        return PreparedImage(
            index=index,
            sha256=sha256,
            data=data,
            mime=header.mime,
            width=header.width,
            height=header.height,
            plan=tile_plan,
            pixel_values=pixels.pixel_values if pixels else None,
            image=pixels.image if pixels else None,
            model_images=pixels.model_images if pixels else None,
            reason=choice.reason.value,
        )

    def _choose(self, header: ImageHeader, sha256: str, detail: Detail, question: str) -> DetailChoice | None:
        """The level ``detail`` resolves to, if known without decoding (a cached verdict counts); else None."""
        choice = choose_early(self._policy, header.width, header.height, detail, question)
        if choice is None:
            verdict = self._verdicts.get(sha256)
            if verdict is not None:
                choice = choose_from(verdict)
        return choice

    @staticmethod
    def _plan(header: ImageHeader, choice: DetailChoice | None, spec: PixelSpec) -> TilePlan:
        """The plan for ``choice``; undecided (None) plans ``high``, the most the image can cost."""
        detail = Detail.HIGH if choice is None else choice.detail
        return plan_tiles(header.width, header.height, detail, max_tiles=spec.max_tiles)

    async def _assess(
        self, data: bytes, sha256: str, header: ImageHeader, spec: PixelSpec, *, render: bool
    ) -> tuple[DetailChoice, TilePlan, CachedPixels | None]:
        """Decode as for ``high``, let the content policy measure the pixels, and render the level it chose.

        One decode serves both: the verdict is kept by content hash, the views
        (when ``render`` and ``spec`` wants pixels) in the pixel cache.
        """
        high, low = self._plan(header, None, spec), plan_tiles(header.width, header.height, Detail.LOW)
        settings = self.settings
        work = partial(
            decide_and_render, data, header, high, low, spec,
            fast=settings.fast_image_decode, max_pixels=settings.max_image_pixels, render=render,
        )  # fmt: skip
        start = time.perf_counter()
        verdict, tile_plan, pixels = await self._in_pool(work)
        if self._metrics is not None:
            self._metrics.decode_seconds.observe(time.perf_counter() - start)
        self._verdicts.put(sha256, verdict, ENTRY_OVERHEAD)
        if pixels is not None:
            self._pixels.put((sha256, tile_plan, spec), pixels, pixels.nbytes)
        return choose_from(verdict), tile_plan, pixels

    def _charge(
        self,
        charge: Charge | None,
        index: int,
        part: ImagePart,
        header: ImageHeader,
        sha256: str,
        tile_plan: TilePlan,
        spec: PixelSpec,
    ) -> None:
        """Tell the budget what this image costs decoded, unless its pixels are already cached."""
        if charge is None or self._pixels.get((sha256, tile_plan, spec)) is not None:
            return
        file = f"file '{part.file_id}', " if part.file_id is not None else ""
        charge(image_cost(header, tile_plan, spec), f"image {index} ({file}{header.width}×{header.height})")

    @staticmethod
    async def _file(part: ImagePart, load_file: LoadFile | None) -> FileImage | None:
        """What the store knows of the uploaded file ``part`` names (None when it names none)."""
        file_id = part.file_id
        if file_id is None:
            return None
        if load_file is None:
            raise ImageError(f"images by file id ('{file_id}') are not accepted here; send the image itself.")
        return await load_file(file_id)

    async def _load(
        self,
        part: ImagePart,
        fetches: dict[str, asyncio.Task[bytes]] | None,
        load_stored: LoadStored | None,
        file: FileImage | None = None,
    ) -> tuple[bytes, str, ImageHeader]:
        """Encoded bytes, sha256 and header of ``part``; ``fetches`` shares downloads within one request.

        Each source costs one trip to the pool (decoding a data URL, hashing
        and reading the header together): thread hand-offs are what small
        images pay most for on a busy machine. ``file``: the uploaded file
        ``part`` names (``_file``).
        """
        url = part.url
        stored = part.stored_sha256
        if file is not None:
            file_bytes = await file.read()
            try:
                inspected = await self._in_pool(partial(self._inspect, file_bytes))
            except ImageError as exc:
                raise type(exc)(f"file '{file.file_id}': {exc.message}", param=exc.param) from exc
            if file.remember is not None:  # uploaded before headers were kept: the store learns it now
                await file.remember(inspected[2])
            return inspected
        if stored is not None:
            data = await load_stored(stored) if load_stored is not None else None
            if data is None:
                raise ImageError(
                    f"the stored image {stored[:16]}… this conversation refers to is no longer available "
                    "(expired or deleted). Send the image again.",
                    param="previous_response_id",
                )
        elif url[:5].lower() == "data:":
            return await self._in_pool(partial(self._inspect_data_url, url))
        elif fetches is None:
            data = await self._fetch(url)
        else:
            # The same URL twice in one request is downloaded once.
            if url not in fetches:
                fetches[url] = asyncio.ensure_future(self._fetch(url))
            data = await asyncio.shield(fetches[url])
        return await self._in_pool(partial(self._inspect, data))

    async def _fetch(self, url: str) -> bytes:
        start = time.perf_counter()
        data = await self._fetcher.fetch(url)
        if self._metrics is not None:
            self._metrics.fetch_seconds.observe(time.perf_counter() - start)
        return data

    def _inspect_data_url(self, url: str) -> tuple[bytes, str, ImageHeader]:
        return self._inspect(decode_data_url(url, max_bytes=self.settings.max_image_bytes))

    def _inspect(self, data: bytes) -> tuple[bytes, str, ImageHeader]:
        """sha256 and header (type, size limits) of the bytes; the header cache skips re-parsing. In the pool."""
        if len(data) > self.settings.max_image_bytes:
            raise ImageTooLarge(
                f"the image is {len(data)} bytes, over the "
                f"{describe_bytes(self.settings.max_image_bytes)} limit. Send a smaller image."
            )
        sha256 = hashlib.sha256(data).hexdigest()
        header = self._headers.get(sha256)
        if header is None:
            header = read_header(data, check_type(data), max_pixels=self.settings.max_image_pixels)
            self._headers.put(sha256, header, ENTRY_OVERHEAD)
        return data, sha256, header

    async def _pixels_for(
        self, data: bytes, sha256: str, header: ImageHeader, tile_plan: TilePlan, spec: PixelSpec
    ) -> tuple[CachedPixels | None, str]:
        """The pixels ``spec`` asks for and whether the cache had them ("hit", "miss" or "none")."""
        if not spec.tiles and spec.full_image_max_side is None:
            return None, "none"
        key = (sha256, tile_plan, spec)
        while True:
            cached = self._pixels.get(key)
            if cached is not None:
                return cached, "hit"
            pending = self._rendering.get(key)
            if pending is None:
                break
            # The same image is being rendered for another request right now: share its result.
            try:
                return await asyncio.shield(pending), "hit"
            except asyncio.CancelledError:
                if pending.cancelled() and not _being_cancelled():
                    continue  # that request went away, not this one: render it here
                raise
        future: asyncio.Future[CachedPixels] = asyncio.get_running_loop().create_future()
        self._rendering[key] = future
        try:
            start = time.perf_counter()
            pixels = await self._in_pool(partial(self._render, data, header, tile_plan, spec))
            if self._metrics is not None:
                self._metrics.decode_seconds.observe(time.perf_counter() - start)
            self._pixels.put(key, pixels, pixels.nbytes)
            future.set_result(pixels)
            return pixels, "miss"
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; mark it retrieved so an unwaited one is not logged
            raise
        finally:
            del self._rendering[key]

    def _render(self, data: bytes, header: ImageHeader, tile_plan: TilePlan, spec: PixelSpec) -> CachedPixels:
        """Decode and tile (runs in the pool)."""
        fast = self.settings.fast_image_decode
        rgb = decode_for(data, header, tile_plan, spec, fast=fast, max_pixels=self.settings.max_image_pixels)
        return render_pixels(rgb, header, tile_plan, spec, fast=fast)

    def _count(self, tile_plan: TilePlan, cache: str) -> None:
        if self._metrics is None:
            return
        self._metrics.images.labels(detail=tile_plan.detail.value, cache=cache).inc()
        self._metrics.tiles.inc(tile_plan.views)
        self._metrics.image_tokens.inc(tile_plan.image_tokens)

    async def _in_pool(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _at_index(exc: ImageError, index: int) -> ImageError:
    """The same error, naming the image's position in the request."""
    if exc.index == index:
        return exc
    return type(exc)(exc.message, index=index, param=exc.param)


async def _first_error_wins(tasks: Sequence[asyncio.Future[T]]) -> list[T]:
    """Results in order; on the first failure cancel the rest and raise it (lowest index among simultaneous ones)."""
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
        if failed or pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    if failed:
        error = failed[0].exception()
        assert error is not None
        raise error
    return [t.result() for t in tasks]


__all__ = ["PLAN_ONLY", "Intake", "LoadFile", "LoadStored", "PreparedImage"]

"""``Intake.prepare`` / ``Intake.plan``: ordering, indices, stored images, the content-hash cache, metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from intake_helpers import ImageServer, data_url, encode, make_settings, photo

from oculi.domain import Detail, ImageHeader, ImagePart
from oculi.errors import ImageDecodeError, ImageError, ImageTooLarge, UnsupportedImageType
from oculi.intake.cache import ImageCache
from oculi.intake.pipeline import Intake
from oculi.intake.types import FileImage, PixelSpec
from oculi.metrics import Metrics

SPEC = PixelSpec()
LOCAL = ["127.0.0.1/32"]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_mixed_sources_in_request_order(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes, small_jpeg: bytes
) -> None:
    wide = encode(photo(900, 300, seed=11), "JPEG")
    url = server.serve("/wide.jpg", wide)
    sha_png = hashlib.sha256(small_png).hexdigest()
    store = {sha_png: small_png}

    async def load_stored(sha256: str) -> bytes | None:
        return store.get(sha256)

    parts = [
        ImagePart(data_url(small_jpeg, "image/jpeg"), Detail.AUTO),
        ImagePart(url, Detail.HIGH),
        ImagePart.stored(sha_png, Detail.LOW),
    ]
    prepared = await make_intake(fetch_allow=LOCAL).prepare(parts, SPEC, load_stored=load_stored)
    assert [p.index for p in prepared] == [0, 1, 2]
    assert [p.data for p in prepared] == [small_jpeg, wide, small_png]
    assert [p.sha256 for p in prepared] == [hashlib.sha256(d).hexdigest() for d in (small_jpeg, wide, small_png)]
    assert [p.mime for p in prepared] == ["image/jpeg", "image/jpeg", "image/png"]
    assert [(p.width, p.height) for p in prepared] == [(640, 480), (900, 300), (64, 48)]
    assert [(p.plan.cols, p.plan.rows, p.plan.detail) for p in prepared] == [
        (3, 2, Detail.HIGH),  # 640×480 is over 448: auto → high; 4:3 is closest to 3:2
        (3, 1, Detail.HIGH),
        (1, 1, Detail.LOW),
    ]
    assert [p.image_tokens for p in prepared] == [1792, 1024, 256]
    for p in prepared:
        assert p.pixel_values is not None and p.pixel_values.shape == (p.plan.views, 3, 448, 448)


async def test_empty_request(make_intake: Callable[..., Intake]) -> None:
    assert await make_intake().prepare([], SPEC) == []


async def test_stored_image_gone(make_intake: Callable[..., Intake], small_png: bytes) -> None:
    async def nothing(sha256: str) -> bytes | None:
        return None

    parts = [ImagePart(data_url(small_png)), ImagePart.stored("ab" * 32, Detail.AUTO)]
    for loader in (nothing, None):
        with pytest.raises(ImageError, match="no longer available") as info:
            await make_intake().prepare(parts, SPEC, load_stored=loader)
        assert info.value.index == 1


async def test_failing_image_is_named_and_the_rest_cancelled(
    make_intake: Callable[..., Intake], small_png: bytes
) -> None:
    parts = [ImagePart(data_url(small_png)), ImagePart("data:image/png;base64,@@"), ImagePart(data_url(small_png))]
    with pytest.raises(ImageDecodeError) as info:
        await make_intake().prepare(parts, SPEC)
    assert info.value.index == 1 and "base64" in info.value.message


async def test_two_failures_report_one_of_them_by_its_own_index(make_intake: Callable[..., Intake]) -> None:
    """The first image to fail is reported; whichever it is, the error names that image, not the other."""
    gif = encode(photo(8, 8), "GIF")
    parts = [ImagePart(data_url(gif)), ImagePart("data:image/png;base64,@@")]
    with pytest.raises(ImageError) as info:
        await make_intake().prepare(parts, SPEC)
    expected = {0: UnsupportedImageType, 1: ImageDecodeError}
    assert info.value.index in expected
    assert type(info.value) is expected[info.value.index]


async def test_same_url_twice_is_fetched_once(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    url = server.serve("/twice.png", small_png)
    prepared = await make_intake(fetch_allow=LOCAL).prepare([ImagePart(url), ImagePart(url, Detail.HIGH)], SPEC)
    assert server.hits["/twice.png"] == 1
    assert [p.index for p in prepared] == [0, 1]
    assert prepared[0].data == prepared[1].data == small_png


async def test_cache_hits_skip_decoding(small_jpeg: bytes) -> None:
    metrics = Metrics()
    intake = Intake(make_settings(), metrics)
    try:
        part = ImagePart(data_url(small_jpeg, "image/jpeg"), Detail.HIGH)
        [first] = await intake.prepare([part], SPEC)
        [again] = await intake.prepare([ImagePart.stored(first.sha256, Detail.HIGH)], SPEC, load_stored=_serve(first))
        [low] = await intake.prepare([ImagePart(part.url, Detail.LOW)], SPEC)
    finally:
        await intake.aclose()
    assert again.pixel_values is first.pixel_values  # the very same array: nothing decoded again
    assert low.pixel_values is not None and low.pixel_values.shape == (1, 3, 448, 448)  # other plan: own entry
    assert sample(metrics, "oculi_images_total", detail="high", cache="miss") == 1
    assert sample(metrics, "oculi_images_total", detail="high", cache="hit") == 1
    assert sample(metrics, "oculi_images_total", detail="low", cache="miss") == 1
    assert sample(metrics, "oculi_image_decode_seconds_count") == 2
    assert sample(metrics, "oculi_image_tiles_total") == 7 + 7 + 1
    assert sample(metrics, "oculi_image_tokens_total") == 1792 + 1792 + 256


async def test_identical_images_in_one_request_decode_once(small_jpeg: bytes) -> None:
    metrics = Metrics()
    intake = Intake(make_settings(), metrics)
    try:
        parts = [ImagePart(data_url(small_jpeg, "image/jpeg"))] * 4
        prepared = await intake.prepare(parts, SPEC)
    finally:
        await intake.aclose()
    assert sample(metrics, "oculi_image_decode_seconds_count") == 1
    assert all(p.pixel_values is prepared[0].pixel_values for p in prepared)


async def test_cache_is_bounded(make_intake: Callable[..., Intake]) -> None:
    one_view = 3 * 448 * 448 * 4  # bytes of a low-detail entry
    intake = make_intake(image_cache_bytes=int(one_view * 2.5))
    images = [data_url(encode(photo(100, 100, seed=s), "PNG")) for s in range(3)]
    first = [(await intake.prepare([ImagePart(u, Detail.LOW)], SPEC))[0] for u in images]  # puts in order 0, 1, 2
    [evicted] = await intake.prepare([ImagePart(images[0], Detail.LOW)], SPEC)
    [kept] = await intake.prepare([ImagePart(images[2], Detail.LOW)], SPEC)
    assert evicted.pixel_values is not first[0].pixel_values  # the oldest entry made room
    assert kept.pixel_values is first[2].pixel_values
    assert evicted.pixel_values is not None and first[0].pixel_values is not None
    np.testing.assert_array_equal(evicted.pixel_values, first[0].pixel_values)


def test_image_cache_lru_by_bytes() -> None:
    cache: ImageCache[str, str] = ImageCache(100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # now most recent
    cache.put("c", "C", 40)  # over budget: evicts the least recently used, "b"
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.nbytes == 80 and len(cache) == 2
    cache.put("huge", "H", 101)  # bigger than the whole budget: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 2


async def test_plan_counts_tokens_without_pixels(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    big = encode(photo(1920, 1080, seed=12), "JPEG")
    url = server.serve("/big.jpg", big)
    intake = make_intake(fetch_allow=LOCAL)
    planned = await intake.plan(ImagePart(url), index=3)
    assert (planned.index, planned.width, planned.height, planned.mime) == (3, 1920, 1080, "image/jpeg")
    assert (planned.plan.cols, planned.plan.rows, planned.image_tokens) == (2, 1, 768)
    assert planned.pixel_values is None and planned.image is None
    [prepared] = await intake.prepare([ImagePart(url)], SPEC)
    assert prepared.image_tokens == planned.image_tokens
    low = await intake.plan(ImagePart(data_url(small_png), Detail.LOW))
    assert low.image_tokens == 256


async def test_plan_refuses_bad_images_with_the_given_index(make_intake: Callable[..., Intake]) -> None:
    with pytest.raises(UnsupportedImageType) as info:
        await make_intake().plan(ImagePart(data_url(encode(photo(8, 8), "BMP"))), index=5)
    assert info.value.index == 5 and info.value.message.startswith("Image 5: ")
    with pytest.raises(ImageTooLarge):
        await make_intake(max_image_pixels=1000).plan(ImagePart(data_url(encode(photo(100, 100), "PNG"))))


async def test_full_image_is_downscaled_to_the_requested_side(make_intake: Callable[..., Intake]) -> None:
    data = encode(photo(1600, 1000, seed=13), "JPEG")
    spec = PixelSpec(tiles=False, full_image_max_side=800)
    [prepared] = await make_intake().prepare([ImagePart(data_url(data, "image/jpeg"))], spec)
    assert prepared.pixel_values is None
    assert prepared.image is not None and prepared.image.size == (800, 500) and prepared.image.mode == "RGB"


def _serve(prepared: object) -> Callable[[str], object]:
    data = getattr(prepared, "data")  # noqa: B009 (keeps the helper generic over PreparedImage)

    async def load(sha256: str) -> bytes | None:
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    return load


async def test_a_file_whose_header_the_store_kept_is_charged_before_it_is_read(
    make_intake: Callable[..., Intake], small_png: bytes
) -> None:
    events: list[str] = []

    async def read() -> bytes:
        events.append("read")
        return small_png

    known = FileImage(
        "file-a", hashlib.sha256(small_png).hexdigest(), len(small_png), ImageHeader("image/png", 64, 48, 1), read
    )

    async def remember(header: ImageHeader) -> None:
        events.append(f"remember {header.width}×{header.height}")

    unknown = FileImage("file-b", known.sha256, len(small_png), None, read, remember)  # uploaded before headers

    async def load_file(file_id: str) -> FileImage:
        return known if file_id == "file-a" else unknown

    def charge(nbytes: int, image: str) -> None:
        events.append(f"charge {image}")

    intake = make_intake()
    [image] = await intake.prepare([ImagePart.file("file-a")], SPEC, load_file=load_file, charge=charge)
    assert events == ["charge image 0 (file 'file-a', 64×48)", "read"] and image.data == small_png
    assert (image.width, image.height, image.image_tokens) == (64, 48, 256)
    events.clear()
    await make_intake().prepare([ImagePart.file("file-b")], SPEC, load_file=load_file, charge=charge)
    # The header comes from the bytes, and the store is told it for next time.
    assert events == ["read", "remember 64×48", "charge image 0 (file 'file-b', 64×48)"]
    events.clear()
    with pytest.raises(ImageTooLarge, match="Image 0: file 'file-a': the image is 64x48"):
        await make_intake(max_image_pixels=1000).prepare([ImagePart.file("file-a")], SPEC, load_file=load_file)
    assert events == []  # refused by the kept header: nothing read

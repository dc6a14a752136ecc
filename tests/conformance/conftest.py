"""Fixtures of the conformance suite: the test images, the image server, one real ``oculi serve``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conformance_harness import ExampleRunner, OculiServer, external_server
from conformance_images import (
    GIF_PATH,
    HUGE_PATH,
    NASA_PATH,
    Images,
    ImageServer,
    gif_bytes,
    make_image,
    oversize_png_bytes,
)

from oculi.testing.server import ServerProcess


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    """Real PNG/JPEG files made for the suite, served over HTTP from 127.0.0.1."""
    root = tmp_path_factory.mktemp("conformance-images")
    nasa = make_image(root / "web-first-images-release.png", 1920, 1080, seed=1)
    gif = root / "disguised-gif.png"
    gif.write_bytes(gif_bytes())
    huge = root / "huge.png"
    huge.write_bytes(oversize_png_bytes())
    files = {
        NASA_PATH: (nasa.path.read_bytes(), "image/png"),
        GIF_PATH: (gif.read_bytes(), "image/png"),
        HUGE_PATH: (huge.read_bytes(), "image/png"),
    }
    with ImageServer(files) as server:
        yield Images(
            nasa=nasa,
            photo=make_image(root / "photo.png", 800, 1200, seed=2),
            comic_cat=make_image(root / "comic-cat.png", 640, 480, seed=3),
            first=make_image(root / "first.png", 1000, 500, seed=4),
            second=make_image(root / "second.jpg", 300, 300, fmt="JPEG", seed=5),
            gif=gif,
            huge=huge,
            server=server,
        )


@pytest.fixture(scope="session")
def oculi_server(internvl_server: ServerProcess) -> OculiServer:
    """ONE real ``oculi serve`` (HTTP + gRPC) serving the tiny random-weight InternVL checkpoint.

    The suite's shared InternVL server; with ``$OCULI_CONFORMANCE_SERVER`` (``HTTP_PORT:GRPC_PORT``)
    the examples go to that already running server instead.
    """
    if os.environ.get("OCULI_CONFORMANCE_SERVER"):
        return external_server(os.environ["OCULI_CONFORMANCE_SERVER"])
    return OculiServer(
        internvl_server.process, internvl_server.http_port, internvl_server.grpc_port, internvl_server.log_path
    )


@pytest.fixture(scope="session")
def examples(
    oculi_server: OculiServer, images: Images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExampleRunner]:
    """Runs example programs against the server, with the seed's image URL and files pointed at ours."""
    runner = ExampleRunner(
        oculi_server,
        tmp_path_factory.mktemp("examples"),
        env={
            "OCULI_IMAGE_URL": images.nasa_url,
            "OCULI_IMAGE_PATH": str(images.photo.path),
            "OCULI_IMAGE_PATH_1": str(images.first.path),
            "OCULI_IMAGE_PATH_2": str(images.second.path),
        },
    )
    yield runner
    runner.close()

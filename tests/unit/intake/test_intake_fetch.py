"""URL fetching against a real HTTP server on 127.0.0.1: SSRF policy, redirects, timeouts, body limits.

Addresses that must be refused are refused before any connection: the tests
that name non-loopback addresses (10.0.0.1, 169.254.169.254, ...) never send
traffic anywhere, and the loopback ones check that the local server saw no
connection at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from intake_helpers import ImageServer, data_url, encode, head, self_signed_localhost
from PIL import Image

from oculi.domain import ImagePart
from oculi.errors import ForbiddenImageURL, ImageError, ImageFetchError, ImageTooLarge
from oculi.intake.fetch import USER_AGENT, AddressPolicy, forbidden_reason
from oculi.intake.pipeline import Intake
from oculi.intake.types import PixelSpec

MiB = 1024 * 1024
LOCAL = ["127.0.0.1/32"]  # the operator allow-list that lets tests reach their own server
SPEC = PixelSpec()


async def fetch_error(intake: Intake, url: str, *, before: int = 0) -> ImageError:
    """The error for ``url`` placed at index ``before`` (after that many good data-URL images)."""
    pixel = data_url(encode(Image.new("L", (1, 1)), "PNG"))
    parts = [ImagePart(pixel)] * before + [ImagePart(url)]
    with pytest.raises(ImageError) as info:
        await intake.prepare(parts, SPEC)
    assert info.value.index == before
    assert info.value.message.startswith(f"Image {before}: ")
    return info.value


# --- policy ------------------------------------------------------------------------------

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("100.100.100.200", "metadata"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "metadata"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
]


@pytest.mark.parametrize(("address", "word"), FORBIDDEN)
def test_forbidden_addresses(address: str, word: str) -> None:
    reason = forbidden_reason(ipaddress.ip_address(address))
    assert reason is not None and word in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_allow_list_networks_and_hosts() -> None:
    policy = AddressPolicy(["127.0.0.1/32", "10.1.0.0/16", "images.internal", "*.corp.example"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    assert policy.refusal(ipaddress.ip_address("10.1.200.3")) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert policy.host_admitted("images.internal") and policy.host_admitted("Images.Internal.")
    assert policy.host_admitted("a.corp.example") and not policy.host_admitted("corp.example.evil")
    assert not policy.host_admitted("localhost")
    with pytest.raises(ValueError, match="not a valid IP address or CIDR"):
        AddressPolicy(["10.0.0.0/33"])


# --- schemes and addresses ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "/local/path.png"])
async def test_non_http_schemes_refused(make_intake: Callable[..., Intake], url: str) -> None:
    error = await fetch_error(make_intake(), url, before=1)
    assert isinstance(error, ForbiddenImageURL)
    assert "http(s)" in error.message


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("http://10.0.0.1/a.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::1]:9/a.png", "loopback"),
        ("http://100.64.0.1/a.png", "CGNAT"),
        ("https://192.168.0.10/a.png", "private"),
        ("http://[::ffff:10.0.0.1]/a.png", "private"),
        ("http://[fd00:ec2::254]/", "metadata"),
    ],
)
async def test_literal_forbidden_ips_refused(make_intake: Callable[..., Intake], url: str, word: str) -> None:
    start = time.perf_counter()
    error = await fetch_error(make_intake(), url)
    assert isinstance(error, ForbiddenImageURL)
    assert word in error.message
    assert time.perf_counter() - start < 1.0  # refused before connecting: no connect timeout was waited for


async def test_loopback_refused_without_allow_list(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    server.serve("/a.png", small_png)
    for host in ("127.0.0.1", "localhost"):  # by literal IP and by a hostname that resolves to it
        error = await fetch_error(make_intake(), server.url("/a.png", host=host))
        assert isinstance(error, ForbiddenImageURL)
        assert "loopback" in error.message and host in error.message
    assert server.connections == 0


async def test_allowed_fetch_sends_user_agent(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    url = server.serve("/a.png", small_png)
    [prepared] = await make_intake(fetch_allow=LOCAL).prepare([ImagePart(url)], SPEC)
    assert prepared.data == small_png and prepared.mime == "image/png"
    assert server.headers["/a.png"]["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("oculi/")


async def test_allow_list_by_hostname(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    server.serve("/a.png", small_png)
    [prepared] = await make_intake(fetch_allow=["localhost"]).prepare(
        [ImagePart(server.url("/a.png", host="localhost"))], SPEC
    )
    assert prepared.data == small_png
    assert server.headers["/a.png"]["host"] == f"localhost:{server.port}"  # Host stays the URL's hostname


async def test_https_keeps_hostname_for_sni_and_verification(
    make_intake: Callable[..., Intake], small_png: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetcher connects to the address it checked, but TLS still sees and verifies the URL's hostname."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = self_signed_localhost(tmp_path)
    seen_sni: list[str | None] = []
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)
    server = ImageServer()
    await server.start(tls)
    try:
        server.serve("/a.png", small_png)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate, as operators can
        intake = make_intake(fetch_allow=["localhost", "127.0.0.1/32"])
        [prepared] = await intake.prepare([ImagePart(server.url("/a.png", host="localhost"))], SPEC)
        assert prepared.data == small_png
        assert seen_sni == ["localhost"]
        # The certificate names only "localhost": by IP, verification must fail, not be skipped.
        error = await fetch_error(intake, server.url("/a.png", host="127.0.0.1"))
        assert isinstance(error, ImageFetchError) and "certificate" in error.message.lower()
    finally:
        await server.stop()


# --- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    server.serve("/final.png", small_png)
    server.redirect("/r2", "/final.png", status="301 Moved Permanently")
    url = server.redirect("/r1", server.url("/r2"), status="307 Temporary Redirect")
    [prepared] = await make_intake(fetch_allow=LOCAL).prepare([ImagePart(url)], SPEC)
    assert prepared.data == small_png
    assert server.hits == {"/r1": 1, "/r2": 1, "/final.png": 1}


@pytest.mark.parametrize(
    ("location", "word"),
    [
        ("http://10.0.0.1/x.png", "private"),
        ("http://169.254.169.254/latest/meta-data/iam/", "metadata"),
        ("http://[::1]/x.png", "loopback"),
        ("file:///etc/passwd", "scheme"),
    ],
)
async def test_redirect_to_forbidden_target(
    make_intake: Callable[..., Intake], server: ImageServer, location: str, word: str
) -> None:
    url = server.redirect("/go", location)
    error = await fetch_error(make_intake(fetch_allow=LOCAL), url, before=2)
    assert isinstance(error, ForbiddenImageURL)
    assert word in error.message
    assert server.hits["/go"] == 1


async def test_redirect_to_an_invalid_url(make_intake: Callable[..., Intake], server: ImageServer) -> None:
    error = await fetch_error(make_intake(fetch_allow=LOCAL), server.redirect("/bad", "http://[::1"))
    assert isinstance(error, ImageError) and error.status == 400


async def test_too_many_redirects(make_intake: Callable[..., Intake], server: ImageServer) -> None:
    server.redirect("/loop", "/loop")
    error = await fetch_error(make_intake(fetch_allow=LOCAL, fetch_max_redirects=3), server.url("/loop"))
    assert isinstance(error, ImageFetchError)
    assert "more than 3" in error.message
    assert server.hits["/loop"] == 4  # the first request and three redirects


# --- timeouts ----------------------------------------------------------------------------------


async def test_server_slower_than_the_timeout(make_intake: Callable[..., Intake], server: ImageServer) -> None:
    async def stall(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.5)

    url = server.raw("/slow", stall)
    start = time.perf_counter()
    error = await fetch_error(make_intake(fetch_allow=LOCAL, fetch_timeout=0.3), url)
    assert isinstance(error, ImageFetchError)
    assert "longer than 0.3 s" in error.message and "127.0.0.1" in error.message
    assert time.perf_counter() - start < 1.2


async def test_total_timeout_covers_a_trickling_body(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    """Each piece arrives well within any read timeout, but the whole download takes too long."""

    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(head("200 OK", {"content-length": str(len(small_png))}))
        for i in range(len(small_png)):
            writer.write(small_png[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.05)

    url = server.raw("/trickle", trickle)
    start = time.perf_counter()
    error = await fetch_error(make_intake(fetch_allow=LOCAL, fetch_timeout=0.4), url)
    assert isinstance(error, ImageFetchError) and "longer than" in error.message
    assert time.perf_counter() - start < 1.5


async def test_connection_refused(make_intake: Callable[..., Intake]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await fetch_error(make_intake(fetch_allow=LOCAL), f"http://127.0.0.1:{port}/a.png")
    assert isinstance(error, ImageFetchError) and "127.0.0.1" in error.message


# --- bodies and sizes --------------------------------------------------------------------------


async def test_body_longer_than_content_length_is_cut_at_the_declared_length(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    async def liar(writer: asyncio.StreamWriter) -> None:
        writer.write(head("200 OK", {"content-length": str(len(small_png))}) + small_png)
        for _ in range(40):  # 10 MiB more than announced, against a 1 MiB limit
            writer.write(b"\x00" * (256 * 1024))
            await writer.drain()

    url = server.raw("/liar", liar)
    [prepared] = await make_intake(fetch_allow=LOCAL, max_image_bytes=MiB).prepare([ImagePart(url)], SPEC)
    assert prepared.data == small_png


async def test_body_shorter_than_content_length(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    async def short(writer: asyncio.StreamWriter) -> None:
        writer.write(head("200 OK", {"content-length": str(len(small_png) + 500)}) + small_png)

    error = await fetch_error(make_intake(fetch_allow=LOCAL), server.raw("/short", short))
    assert isinstance(error, ImageFetchError)
    assert f"after {len(small_png)} bytes of the {len(small_png) + 500} bytes announced" in error.message


async def test_no_content_length_small_body(
    make_intake: Callable[..., Intake], server: ImageServer, small_png: bytes
) -> None:
    async def until_close(writer: asyncio.StreamWriter) -> None:
        writer.write(head("200 OK", {"content-type": "image/png"}) + small_png)

    [prepared] = await make_intake(fetch_allow=LOCAL).prepare([ImagePart(server.raw("/nolen", until_close))], SPEC)
    assert prepared.data == small_png


@pytest.mark.parametrize("framing", ["close", "chunked"])
async def test_no_content_length_body_over_the_limit(
    make_intake: Callable[..., Intake], server: ImageServer, framing: str
) -> None:
    sent = 0

    async def endless(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        headers = {"transfer-encoding": "chunked"} if framing == "chunked" else {}
        writer.write(head("200 OK", headers))
        piece = b"\xff\xd8\xff" + b"\x00" * (64 * 1024 - 3)
        for _ in range(160):  # 10 MiB
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
            sent += len(piece)
            await writer.drain()

    error = await fetch_error(make_intake(fetch_allow=LOCAL, max_image_bytes=MiB), server.raw("/big", endless))
    assert isinstance(error, ImageTooLarge)
    assert "stopped reading at the limit" in error.message
    assert sent < 6 * MiB  # the download was aborted, not read to the end


async def test_content_length_over_the_limit_refused_before_the_body(
    make_intake: Callable[..., Intake], server: ImageServer
) -> None:
    async def announce(writer: asyncio.StreamWriter) -> None:
        writer.write(head("200 OK", {"content-length": str(20 * MiB + 1)}))
        await writer.drain()
        await asyncio.sleep(1.0)  # never sends the body: the refusal must not wait for it

    start = time.perf_counter()
    error = await fetch_error(make_intake(fetch_allow=LOCAL), server.raw("/huge", announce))
    assert isinstance(error, ImageTooLarge)
    assert str(20 * MiB + 1) in error.message and "20 MiB" in error.message
    assert time.perf_counter() - start < 0.9


@pytest.mark.parametrize(("status", "code"), [("404 Not Found", "404"), ("500 Internal Server Error", "500")])
async def test_remote_errors_name_host_and_status(
    make_intake: Callable[..., Intake], server: ImageServer, status: str, code: str
) -> None:
    url = server.serve("/err", b"oops", status=status)
    error = await fetch_error(make_intake(fetch_allow=LOCAL), url, before=1)
    assert isinstance(error, ImageFetchError) and error.status == 400
    assert "127.0.0.1" in error.message and f"HTTP {code}" in error.message

"""Size limit enforced while the upload streams (memory stays flat), and per-key quotas, on both surfaces."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import grpc
import httpx
import openai
import pytest
from files_support import KEY, LIMITED_MAX_FILE, LIMITED_QUOTA_BYTES, LIMITED_QUOTA_COUNT, OTHER_KEY, MiB
from openai import OpenAI
from xai_sdk import Client

from oculi.testing.server import ServerProcess

UPLOAD_PIECE = 256 * 1024


def chunked_upload(total: int, sent: list[int]) -> Iterator[bytes]:
    """A multipart body sent chunked (no Content-Length), so only the server's streaming check can stop it."""
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="huge.bin"\r\n\r\n'
    piece = b"\0" * UPLOAD_PIECE
    while sent[0] < total:
        sent[0] += len(piece)
        yield piece
    yield b"\r\n--b--\r\n"


def test_over_size_upload_is_refused_while_streaming_with_flat_memory(limited_server: ServerProcess) -> None:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "multipart/form-data; boundary=b"}
    with httpx.Client(base_url=limited_server.v1, headers=headers, timeout=120) as http:
        # Warm the upload path once so the measurement is not the first request's imports.
        assert (
            http.post(
                "/files",
                content=b'--b\r\nContent-Disposition: form-data; name="file"; '
                b'filename="w.txt"\r\n\r\nwarm\r\n--b--\r\n',
            ).status_code
            == 200
        )
        before = limited_server.rss_bytes()
        total = 64 * MiB  # 16 times the 4 MiB limit
        sent = [0]
        started = time.monotonic()
        response = http.post("/files", content=chunked_upload(total, sent))
        grown = limited_server.rss_bytes() - before
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large" and "4.0 MiB" in body["error"]
    assert grown < 16 * MiB, f"server RSS grew by {grown / MiB:.1f} MiB for a refused {total / MiB:.0f} MiB upload"
    assert time.monotonic() - started < 60
    # Declared too large: answered from Content-Length alone, before any of the body is sent.
    with socket.create_connection(("127.0.0.1", limited_server.http_port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n"
            "content-type: multipart/form-data; boundary=b\r\n"
            f"content-length: {LIMITED_MAX_FILE + 2 * MiB}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_quota_on_count_and_bytes_over_rest(limited_server: ServerProcess) -> None:
    client = OpenAI(base_url=limited_server.v1, api_key=OTHER_KEY, max_retries=2, timeout=60)
    big = b"q" * (LIMITED_QUOTA_BYTES // 2 + 1)
    first = client.files.create(file=("a.bin", big), purpose="batch")
    with pytest.raises(openai.RateLimitError) as caught:
        client.files.create(file=("b.bin", big), purpose="batch")
    assert caught.value.response.headers["x-should-retry"] == "false"  # the client did not retry it
    assert "quota" in str(caught.value.body)
    made = [client.files.create(file=(f"s{i}.txt", b"s"), purpose="batch") for i in range(LIMITED_QUOTA_COUNT - 1)]
    with pytest.raises(openai.RateLimitError) as counted:
        client.files.create(file=("one-more.txt", b"s"), purpose="batch")
    assert f"quota (file_quota_count) is {LIMITED_QUOTA_COUNT}" in str(counted.value.body)
    # Deleting frees the quota.
    client.files.delete(first.id)
    again = client.files.create(file=("b.bin", big), purpose="batch")
    for file in (again, *made):
        client.files.delete(file.id)
    log = limited_server.log_text()
    assert log.count("POST /v1/files 429") == 2  # each refused once, never retried


def test_size_and_quota_over_grpc(limited_server: ServerProcess) -> None:
    with Client(api_key=KEY, api_host=limited_server.grpc_address, timeout=60) as xai:
        with pytest.raises(grpc.RpcError) as too_big:
            xai.files.upload(b"z" * (LIMITED_MAX_FILE + 1), filename="big.bin")
        assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_file_bytes" in too_big.value.details()
        listed = xai.files.list().data
        made = [xai.files.upload(b"x", filename=f"{i}.txt") for i in range(LIMITED_QUOTA_COUNT - len(listed))]
        with pytest.raises(grpc.RpcError) as quota:
            xai.files.upload(b"x", filename="over.txt")
        assert quota.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "quota" in quota.value.details()
        for file in made:
            xai.files.delete(file.id)

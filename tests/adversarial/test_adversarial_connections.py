"""Slow and silent clients are cut off (408 / closed) while everybody else is served.

Issue 11: a body that stops before its Content-Length, or a connection that
sends nothing, was held open for over 150 s; 20 clients trickling a byte a
second were never cut off. The servers here have a 2 s header and a 3 s body
deadline (``conftest.py``).
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from adversarial_support import AUTH, KEY
from conftest import BODY_TIMEOUT, HEADER_TIMEOUT

from oculi.testing.server import ServerProcess

BODY = json.dumps({"model": "grok-4", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}).encode()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def head(server: ServerProcess, length: int) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{server.http_port}\r\n"
        f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def test_a_silent_connection_is_closed(lite_server: ServerProcess) -> None:
    started = time.monotonic()
    with connect(lite_server) as sock:
        assert read_all(sock) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_half_sent_headers_get_a_408(lite_server: ServerProcess) -> None:
    started = time.monotonic()
    with connect(lite_server) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "request_timeout"
    assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_a_body_shorter_than_its_content_length_gets_a_408(lite_server: ServerProcess) -> None:
    started = time.monotonic()
    with connect(lite_server) as sock:
        sock.sendall(head(lite_server, len(BODY) + 100) + BODY)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["code"] == "request_timeout" and "body" in body["error"]
    assert time.monotonic() - started < BODY_TIMEOUT + 5


def test_trickling_clients_are_cut_off_while_others_are_served(lite_server: ServerProcess) -> None:
    def trickle(_: int) -> bytes:
        with connect(lite_server) as sock:
            sock.sendall(head(lite_server, len(BODY)))
            try:
                for byte in BODY:
                    sock.sendall(bytes([byte]))
                    time.sleep(1.0)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return read_all(sock)

    with ThreadPoolExecutor(20) as pool:
        trickles = [pool.submit(trickle, i) for i in range(20)]
        time.sleep(0.5)
        # Meanwhile a normal client is served at once.
        for _ in range(3):
            headers = {**AUTH, "content-type": "application/json"}
            ok = httpx.post(lite_server.v1 + "/chat/completions", content=BODY, headers=headers, timeout=30)
            assert ok.status_code == 200, ok.text
        answers = [t.result(timeout=BODY_TIMEOUT + 30) for t in trickles]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), [a[:40] for a in answers]

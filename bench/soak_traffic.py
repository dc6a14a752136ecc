"""The soak's callers (``bench/soak.py``): every surface, spread over the live replicas, each outcome recorded.

``Traffic.offer`` is an open loop: arrivals at ``rate`` per second (Poisson),
each one request (or a short sequence, e.g. upload then use by ``file_id``)
of a surface drawn by weight, sent to a replica that is up. Nothing is
retried: the point is to see what a caller gets. What was acknowledged is
kept to check afterwards: stored responses (id and text), accepted deferred
requests and batch requests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
import httpx
import numpy as np
import psycopg
import xai_sdk
from PIL import Image
from xai_sdk.chat import image as xai_image
from xai_sdk.chat import user as xai_user

from oculi.testing.server import ServerProcess

# The hostile corpus is the adversarial suite's (which reads the suite's keys from tests/servers.py).
sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests" / d) for d in ("adversarial", ".")]
from adversarial_support import bad_crc_png, png, truncated_png  # noqa: E402  (found on the path set above)

KEY = "sk-oculi-soak"
AUTH = {"authorization": f"Bearer {KEY}"}
#: A request unanswered this long counts as a hang.
CLIENT_TIMEOUT_S = 60.0
#: Most requests in flight from the bench at once; arrivals beyond it are shed (counted) rather than queued.
MAX_IN_FLIGHT = 256
SURFACES = ("chat", "responses", "grpc", "stream", "files", "deferred", "batch", "hostile")
WEIGHTS = (26, 20, 14, 15, 8, 6, 4, 5)  # hostile: 5 %
MODELS = ("grok-4", "oculi-lite")  # the tiny InternVL (the default model) and oculi-lite
CUT_FRACTION = 0.3  # of streams, closed by the client after the first event
GRPC_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: -1,
}


class ReplicaSlot(Protocol):
    """A replica as the callers see it: its name and its server while it is up."""

    name: str
    server: ServerProcess | None


@dataclass
class Outcome:
    """One request as its caller saw it (``status`` 0: no answer / connection cut; -1: timed out)."""

    surface: str
    replica: str
    started: float
    ended: float
    status: int
    retry_after: bool = False
    store_unavailable: bool = False
    cut: bool = False  # the bench itself closed the stream mid-way
    note: str = ""

    def describe(self, since: float = 0.0) -> str:
        """One line for the report: surface, replica, start and end (seconds after ``since``), status, why."""
        span = f"{self.started - since:.1f}-{self.ended - since:.1f}s"
        return f"{self.surface}@{self.replica} {span} {self.status} {self.note[:160]}"


def picture(seed: int, size: int = 96) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size, 3)) * 40 + np.linspace(0, 200, size)[None, :, None]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


PICTURES = [picture(i) for i in range(8)]


def hostile_corpus() -> list[tuple[str, Any]]:
    """``(kind, payload)`` from the adversarial suite's corpus: each must get a 4xx (or a 200), never a 5xx."""

    def chat_with(image: bytes) -> dict[str, Any]:
        content = [
            {"type": "text", "text": "What does it say?"},
            {"type": "image_url", "image_url": {"url": data_url(image)}},
        ]
        return {"model": "oculi-lite", "max_tokens": 8, "messages": [{"role": "user", "content": content}]}

    return [
        ("json", chat_with(bad_crc_png())),
        ("json", chat_with(truncated_png())),
        ("json", chat_with(b"\x89PNG\r\n\x1a\n")),
        ("json", chat_with(b"\xff\xd8\xff\xe0garbage")),
        ("json", chat_with(png(2000, 1))),
        ("json", {"model": 5, "messages": "not a list"}),
        ("json", {"model": "grok-4", "max_tokens": 10**9, "messages": [{"role": "user", "content": "hi"}]}),
        (
            "json",
            {
                "model": "grok-4",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data/"}}
                        ],
                    }
                ],
            },
        ),
        ("json", {"model": "grok-4", "messages": [{"role": "user", "content": "x " * 400_000}]}),
        ("raw", b'{"model": "grok-4", "messages": [{"role": '),
        ("responses", {"model": "grok-4", "input": "continue", "previous_response_id": "resp_does_not_exist"}),
    ]


@dataclass
class Traffic:
    """The callers of one soak run (see module docstring)."""

    replicas: Sequence[ReplicaSlot]
    seed: int = 30
    rate: float = 1.0
    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)  # stored response id -> its text
    accepted_jobs: list[str] = field(default_factory=list)  # deferred request ids
    accepted_batch_requests: dict[str, set[str]] = field(default_factory=dict)  # batch id -> request keys
    shed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Idle connections expire before the server's keep-alive timeout (5 s), as a careful client's do:
        # otherwise a request sent just as the server closes an idle connection is lost in the race.
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64, keepalive_expiry=2.0)
        self.http = httpx.AsyncClient(headers=AUTH, timeout=CLIENT_TIMEOUT_S, limits=limits)
        self.hostile = hostile_corpus()
        self._tasks: set[asyncio.Task[None]] = set()
        self._xai: dict[str, xai_sdk.AsyncClient] = {}
        self._n = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- driving ---------------------------------------------------------------------------

    def pick(self) -> tuple[str, ServerProcess] | None:
        live = [(r.name, r.server) for r in self.replicas if r.server is not None]
        if not live:
            return None
        name, server = self.rng.choice(live)
        assert server is not None
        return name, server

    async def warm_up(self) -> None:
        """One request per replica and model first, so lazily loaded models are in before anything is timed."""
        for replica in self.replicas:
            if replica.server is None:
                continue
            for model in MODELS:
                body = {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": self._content()}]}
                with contextlib.suppress(httpx.HTTPError):
                    await self.http.post(f"{replica.server.v1}/chat/completions", json=body, timeout=300)

    async def measure_capacity(self, seconds: float, callers: int = 32) -> float:
        """Chat completions per second with ``callers`` in a closed loop, after a third as long to warm up."""
        await self.warm_up()
        done = 0
        warm_until = time.monotonic() + seconds / 3
        deadline = warm_until + seconds

        async def caller() -> None:
            nonlocal done
            while (now := time.monotonic()) < deadline:
                outcome = await self.chat(record=False)
                done += outcome.status == 200 and now >= warm_until and time.monotonic() <= deadline

        await asyncio.gather(*(caller() for _ in range(callers)))
        return max(done / seconds, 0.2)

    async def offer(self, seconds: float) -> None:
        """Arrivals at ``rate`` for ``seconds`` (open loop)."""
        deadline = time.monotonic() + seconds
        surfaces: dict[str, Callable[[], Awaitable[Any]]] = {
            "chat": self.chat,
            "responses": self.responses,
            "grpc": self.grpc_chat,
            "stream": self.stream,
            "files": self.files,
            "deferred": self.deferred,
            "batch": self.batch,
            "hostile": self.hostile_request,
        }
        while (now := time.monotonic()) < deadline:
            await asyncio.sleep(min(self.rng.expovariate(self.rate), deadline - now))
            if len(self._tasks) >= MAX_IN_FLIGHT:
                self.shed += 1
                continue
            surface = self.rng.choices(SURFACES, WEIGHTS)[0]
            task = asyncio.create_task(self._run(surfaces[surface]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLIENT_TIMEOUT_S * 3)

    async def _run(self, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except Exception as exc:  # a bug in the bench itself: keep going, but say so
            print(f"bench error in {getattr(call, '__name__', call)}: {type(exc).__name__}: {exc}", flush=True)

    # --- one HTTP request, recorded ----------------------------------------------------------

    async def send(
        self, surface: str, method: str, path: str, *, record: bool = True, **kwargs: Any
    ) -> tuple[Outcome, httpx.Response | None]:
        target = self.pick()
        started = time.monotonic()
        if target is None:
            outcome = Outcome(surface, "-", started, started, 0, note="no replica up")
            return self._keep(outcome, record), None
        name, server = target
        try:
            answer = await self.http.request(method, f"{server.v1}{path}", **kwargs)
        except httpx.TimeoutException as exc:
            return self._keep(Outcome(surface, name, started, time.monotonic(), -1, note=repr(exc)), record), None
        except httpx.HTTPError as exc:
            return self._keep(Outcome(surface, name, started, time.monotonic(), 0, note=repr(exc)), record), None
        outcome = Outcome(
            surface,
            name,
            started,
            time.monotonic(),
            answer.status_code,
            retry_after="retry-after" in answer.headers,
            store_unavailable="store is unavailable" in answer.text and answer.status_code == 503,
            note=answer.text[:200] if answer.status_code >= 400 else "",
        )
        return self._keep(outcome, record), answer

    def _keep(self, outcome: Outcome, record: bool) -> Outcome:
        if record:
            self.outcomes.append(outcome)
        return outcome

    def _content(self) -> list[dict[str, Any]]:
        self._n += 1
        image = data_url(self.rng.choice(PICTURES))
        return [
            {"type": "text", "text": f"What is in picture {self._n}?"},
            {"type": "image_url", "image_url": {"url": image}},
        ]

    # --- surfaces ----------------------------------------------------------------------------

    async def chat(self, record: bool = True) -> Outcome:
        body = {
            "model": self.rng.choice(MODELS),
            "max_tokens": 8,
            "messages": [{"role": "user", "content": self._content()}],
        }
        outcome, _ = await self.send("chat", "POST", "/chat/completions", json=body, record=record)
        return outcome

    async def responses(self) -> None:
        """A stored response, and half the time its continuation (``previous_response_id``)."""
        content = [
            {"type": "input_text", "text": f"Describe {self._n}."},
            {"type": "input_image", "image_url": data_url(self.rng.choice(PICTURES))},
        ]
        body: dict[str, Any] = {
            "model": self.rng.choice(MODELS),
            "max_output_tokens": 8,
            "input": [{"role": "user", "content": content}],
        }
        outcome, answer = await self.send("responses", "POST", "/responses", json=body)
        if answer is None or outcome.status != 200:
            return
        first = answer.json()
        self.acknowledged[first["id"]] = _response_text(first)
        if self.rng.random() < 0.5:
            follow = {
                "model": body["model"],
                "max_output_tokens": 8,
                "previous_response_id": first["id"],
                "input": "And the colours?",
            }
            outcome, answer = await self.send("responses", "POST", "/responses", json=follow)
            if answer is not None and outcome.status == 200:
                second = answer.json()
                self.acknowledged[second["id"]] = _response_text(second)

    async def stream(self) -> None:
        """A streamed chat completion; ``CUT_FRACTION`` of them closed by the client after the first event."""
        target = self.pick()
        started = time.monotonic()
        if target is None:
            self.outcomes.append(Outcome("stream", "-", started, started, 0, note="no replica up"))
            return
        name, server = target
        body = {
            "model": self.rng.choice(MODELS),
            "max_tokens": 16,
            "stream": True,
            "messages": [{"role": "user", "content": self._content()}],
        }
        cut = self.rng.random() < CUT_FRACTION
        status, note, done = 0, "", False
        retry_after = store = False
        try:
            async with self.http.stream("POST", f"{server.v1}/chat/completions", json=body) as answer:
                status = answer.status_code
                retry_after = "retry-after" in answer.headers
                if status != 200:
                    text = (await answer.aread()).decode(errors="replace")
                    note, store = text[:200], "store is unavailable" in text
                else:
                    async for line in answer.aiter_lines():
                        if cut and line.startswith("data:"):
                            break
                        if line.startswith("data:") and '"error"' in line:
                            note = line[:200]
                        done |= line.strip() == "data: [DONE]"
                    if not cut and not done:
                        status, note = 0, note or "stream ended without [DONE]"
                    elif note:
                        status = 500  # an error event inside a 200 stream: the caller did not get its answer
        except httpx.TimeoutException as exc:
            status, note = -1, repr(exc)
        except httpx.HTTPError as exc:
            status, note = 0, repr(exc)
        self.outcomes.append(Outcome("stream", name, started, time.monotonic(), status, retry_after, store, cut, note))

    async def files(self) -> None:
        """Upload an image, then ask about it by ``file_id``."""
        data = picture(10_000 + self._n, size=64 + self._n % 32)
        self._n += 1
        files = {"file": (f"p{self._n}.png", data, "image/png")}
        outcome, answer = await self.send("files", "POST", "/files", files=files, data={"purpose": "vision"})
        if answer is None or outcome.status != 200:
            return
        content = [
            {"type": "text", "text": "What is in it?"},
            {"type": "file", "file": {"file_id": answer.json()["id"]}},
        ]
        body = {"model": self.rng.choice(MODELS), "max_tokens": 8, "messages": [{"role": "user", "content": content}]}
        await self.send("files", "POST", "/chat/completions", json=body)

    async def deferred(self) -> None:
        body = {
            "model": self.rng.choice(MODELS),
            "max_tokens": 8,
            "deferred": True,
            "messages": [{"role": "user", "content": self._content()}],
        }
        outcome, answer = await self.send("deferred", "POST", "/chat/completions", json=body)
        if answer is not None and outcome.status == 200:
            self.accepted_jobs.append(answer.json()["request_id"])

    async def grpc_chat(self) -> None:
        await self._grpc("grpc", self._grpc_sample)

    async def batch(self) -> None:
        await self._grpc("batch", self._grpc_batch)

    async def _grpc_sample(self, client: xai_sdk.AsyncClient) -> None:
        chat = client.chat.create(model=self.rng.choice(MODELS), max_tokens=8)
        chat.append(xai_user(f"What is in picture {self._n}?", xai_image(data_url(self.rng.choice(PICTURES)))))
        await chat.sample()

    async def _grpc_batch(self, client: xai_sdk.AsyncClient) -> None:
        batch = await client.batch.create(f"soak {self._n}")
        keys = [f"r{i}" for i in range(2)]
        chats = []
        for key in keys:
            chat = client.chat.create(model=self.rng.choice(MODELS), max_tokens=8, batch_request_id=key)
            chat.append(xai_user(f"Batch {key}", xai_image(data_url(self.rng.choice(PICTURES)))))
            chats.append(chat)
        await client.batch.add(batch.batch_id, chats)
        self.accepted_batch_requests[batch.batch_id] = set(keys)

    async def _grpc(self, surface: str, call: Callable[[xai_sdk.AsyncClient], Awaitable[None]]) -> None:
        target = self.pick()
        started = time.monotonic()
        if target is None:
            self.outcomes.append(Outcome(surface, "-", started, started, 0, note="no replica up"))
            return
        name, server = target
        client = self._xai.get(server.grpc_address)
        if client is None:
            client = self._xai[server.grpc_address] = xai_sdk.AsyncClient(
                api_host=server.grpc_address, api_key=KEY, timeout=CLIENT_TIMEOUT_S
            )
        try:
            await asyncio.wait_for(call(client), CLIENT_TIMEOUT_S)
            status, note = 200, ""
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or ""
            status = GRPC_STATUS.get(exc.code(), 500)
            if exc.code() == grpc.StatusCode.UNAVAILABLE and "store is unavailable" not in details:
                status = 0  # the channel could not reach the replica (killed): no answer
            note = f"{exc.code().name}: {details[:160]}"
        except TimeoutError:
            status, note = -1, "no answer within the client timeout"
        store = "store is unavailable" in note
        # gRPC has no Retry-After; UNAVAILABLE is the retry signal the clients honour.
        self.outcomes.append(Outcome(surface, name, started, time.monotonic(), status, store, store, note=note))

    async def hostile_request(self) -> None:
        kind, payload = self.rng.choice(self.hostile)
        if kind == "raw":
            headers = {"content-type": "application/json"}
            await self.send("hostile", "POST", "/chat/completions", content=payload, headers=headers)
        elif kind == "responses":
            await self.send("hostile", "POST", "/responses", json=payload)
        else:
            await self.send("hostile", "POST", "/chat/completions", json=payload)

    # --- afterwards --------------------------------------------------------------------------

    async def wait_for_jobs(self, pg_url: str, within_s: float) -> None:
        """Until no accepted job is pending or running (or ``within_s`` seconds)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with psycopg.connect(pg_url) as conn:
                left = conn.execute("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')").fetchone()
            if left is not None and left[0] == 0:
                return
            await asyncio.sleep(1.0)
        print(f"jobs still unfinished after {within_s:.0f}s", flush=True)

    async def read_back(self) -> dict[str, int]:
        """GET every acknowledged stored response from a live replica; count those intact."""
        good = 0
        semaphore = asyncio.Semaphore(16)

        async def one(response_id: str, text: str) -> None:
            nonlocal good
            async with semaphore:
                for _ in range(3):
                    target = self.pick()
                    if target is None:
                        return
                    with contextlib.suppress(httpx.HTTPError):
                        answer = await self.http.get(f"{target[1].v1}/responses/{response_id}")
                        if answer.status_code == 200:
                            good += _response_text(answer.json()) == text
                            return
                        if answer.status_code == 404:
                            return

        await asyncio.gather(*(one(i, t) for i, t in self.acknowledged.items()))
        return {"acknowledged": len(self.acknowledged), "read_back": good}


def _response_text(body: dict[str, Any]) -> str:
    for item in body.get("output", []):
        if item.get("type") == "message":
            return "".join(part.get("text", "") for part in item.get("content", []))
    return json.dumps(body.get("output"))

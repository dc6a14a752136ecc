"""Is oculi's llama.cpp engine as fast as llama.cpp's own server on the same GGUF pair?

One run, the same model files and the same requests against both servers,
both over HTTP with the OpenAI chat-completions API. Both servers are up at
once but only one works at a time: every scenario runs ``--rounds`` times on
each, the servers taking turns and alternating which goes first, so a shared
host that speeds up or slows down during the run favours neither.

- single requests: one image at ``low`` (448×448, one tile on both servers)
  and ``high`` (896×448: SPEC §3 and mtmd both make 2 tiles + thumbnail),
  32 output tokens, greedy, a fresh image each time; the best (and median)
  latency of the rounds;
- concurrency 8: eight requests at once, different questions, with
  ``--images distinct`` (the default: a fresh image per request, the common
  case: every request pays for its own vision encoding) and/or ``shared``
  (one image for all eight: a server that caches encodings does it once);
  new pixels every round; wall time → requests/s and completion tokens/s;
- time to first token of a request that arrives while another image is being
  encoded: a ``high`` request (3 tiles) starts, ``--ttft-delay`` seconds later a
  streamed ``low`` request with its own image follows; its time to the first
  content token.

Prints a table with oculi/llama-server ratios (latency: lower is better;
throughput: higher is better). Targets (issue 16): ≤ 1.1× latency on single
requests, ≥ 1.1× throughput at concurrency 8 with distinct images, time to
first token during another encode no worse.

Usage::

    scripts/build_llamacpp.sh --server
    .venv/bin/python scripts/make_gguf_fixtures.py --skip-tiny --bench /tmp/bench-gguf   # real-size model
    .venv/bin/python bench/llamacpp.py --model /tmp/bench-gguf/internvl3-1b-random.gguf \\
        --mmproj /tmp/bench-gguf/internvl3-1b-random-mmproj.gguf --images distinct shared
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = Path.home() / ".cache" / "oculi-llamacpp" / "server-build" / "bin" / "llama-server"
QUESTIONS = [
    "Describe the image.",
    "What colours do you see?",
    "Is there any text in the picture?",
    "Count the objects.",
    "What is in the top left corner?",
    "Is it a photo or a drawing?",
    "What is the main subject?",
    "Describe the background.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """Photo-like RGB pixels (smooth gradients + noise), ``[height, width, 3]`` uint8."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype("uint8")


def _data_url(width: int, height: int, seed: int) -> str:
    """A ``photo`` as a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(photo(width, height, seed)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Result:
    """Latencies, wall times and token counts of one scenario on one server."""

    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)  # concurrent scenarios: one per round
    requests: int = 0  # per round (concurrent scenarios)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)

    def add(self, answer: tuple[float, int, int]) -> None:
        self.latencies.append(answer[0])
        self.prompt_tokens.append(answer[1])
        self.completion_tokens.append(answer[2])


class Server:
    """A server subprocess on a free port, stopped on exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    async def wait_ready(self, limit_s: float = 900) -> None:
        deadline = time.monotonic() + limit_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self._log.name}")
                try:
                    if (await client.get(self.url + "/health", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise TimeoutError(f"{self.name} did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def _body(image: str, detail: str, question: str, max_tokens: int, stream: bool = False) -> dict[str, object]:
    return {
        "model": "grok-4",  # oculi: the default model's alias; llama-server: any name
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image, "detail": detail}},
                    {"type": "text", "text": question},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }


async def _ask(
    client: httpx.AsyncClient, url: str, image: str, detail: str, question: str, max_tokens: int
) -> tuple[float, int, int]:
    start = time.perf_counter()
    response = await client.post(
        url + "/v1/chat/completions", json=_body(image, detail, question, max_tokens), timeout=1800
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    usage = response.json()["usage"]
    return elapsed, int(usage["prompt_tokens"]), int(usage["completion_tokens"])


async def _first_token(client: httpx.AsyncClient, url: str, image: str, max_tokens: int) -> float:
    """Seconds until the first chunk that carries generated text (a role-only first chunk does not count)."""
    start = time.perf_counter()
    body = _body(image, "low", QUESTIONS[1], max_tokens, stream=True)
    first: float | None = None
    async with client.stream("POST", url + "/v1/chat/completions", json=body, timeout=1800) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():  # read to the end: the request runs to its end on both servers
            if first is not None or not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            if any(c.get("delta", {}).get("content") or c.get("finish_reason") for c in choices):
                first = time.perf_counter() - start
    if first is not None:
        return first
    raise RuntimeError("the stream ended without a token")


SCENARIOS = ("single-low", "single-high", "concurrent-low", "concurrent-high", "ttft")
SIZES = {"low": (448, 448), "high": (896, 448)}


def concurrent_images(detail: str, mode: str, concurrency: int, round_: int) -> list[str]:
    """The images of one concurrent round: fresh pixels every round (no server may answer from an earlier
    round's cache), one image per request (distinct) or one for all (shared); the same for both servers."""
    base = 10_000 * (1 + (detail == "high")) + 100 * round_
    seeds = [base + i for i in range(concurrency)] if mode == "distinct" else [base + 99] * concurrency
    return [_data_url(*SIZES[detail], seed=seed) for seed in seeds]


Unit = Callable[[httpx.AsyncClient, Server, int], Awaitable[None]]


def plan(args: argparse.Namespace, results: dict[str, dict[str, Result]]) -> list[tuple[str, Unit]]:
    """The scenarios as units of work, each run once per round on each server."""
    units: list[tuple[str, Unit]] = []

    def result(server: Server, name: str) -> Result:
        return results.setdefault(server.name, {}).setdefault(name, Result())

    for detail in ("low", "high"):
        if f"single-{detail}" in args.scenarios:

            async def single(client: httpx.AsyncClient, server: Server, round_: int, detail: str = detail) -> None:
                # a fresh image each time: single-request latency includes encoding the image
                image = _data_url(*SIZES[detail], seed=100 + round_)
                answer = await _ask(client, server.url, image, detail, QUESTIONS[0], args.max_tokens)
                result(server, f"single {detail}").add(answer)

            units.append((f"single {detail}", single))
    for detail in ("low", "high"):
        for mode in args.images if f"concurrent-{detail}" in args.scenarios else []:
            name = f"concurrent x{args.concurrency} {detail} ({mode})"

            async def concurrent(
                client: httpx.AsyncClient, server: Server, round_: int, detail: str = detail, mode: str = mode,
                name: str = name,
            ) -> None:  # fmt: skip
                urls = concurrent_images(detail, mode, args.concurrency, round_)
                start = time.perf_counter()
                answers = await asyncio.gather(
                    *(
                        _ask(client, server.url, url, detail, QUESTIONS[i % len(QUESTIONS)], args.max_tokens)
                        for i, url in enumerate(urls)
                    )
                )
                r = result(server, name)
                r.walls.append(time.perf_counter() - start)
                r.requests = len(urls)
                for answer in answers:
                    r.add(answer)

            units.append((name, concurrent))
    if "ttft" in args.scenarios:

        async def ttft(client: httpx.AsyncClient, server: Server, round_: int) -> None:
            high = _data_url(*SIZES["high"], seed=300 + round_)
            busy = asyncio.create_task(_ask(client, server.url, high, "high", QUESTIONS[2], args.max_tokens))
            await asyncio.sleep(args.ttft_delay)
            first = await _first_token(client, server.url, _data_url(448, 448, 400 + round_), 8)
            result(server, f"first token during an encode (+{args.ttft_delay:g} s)").latencies.append(first)
            await busy

        units.append(("ttft", ttft))
    return units


async def run_interleaved(servers: list[Server], units: list[tuple[str, Unit]], rounds: int) -> None:
    """Each unit ``rounds`` times on every server, alternating which server goes first (ABBA...), so a
    machine that gets slower or faster during the run (a shared host does) favours neither."""
    async with httpx.AsyncClient() as client:
        for server in servers:
            await _ask(client, server.url, _data_url(448, 448, 99), "low", "warm up", 4)
        for name, unit in units:
            for round_ in range(rounds):
                order = servers if round_ % 2 == 0 else servers[::-1]
                for server in order:
                    start = time.perf_counter()
                    await unit(client, server, round_)
                    took = time.perf_counter() - start
                    print(f"[bench] {name} round {round_ + 1}: {server.name} {took:.2f} s", file=sys.stderr)


def _tokens(ref: Result, ours: Result) -> str:
    if not ref.prompt_tokens:
        return "– | – |"
    return (
        f"{statistics.mean(ref.prompt_tokens):.0f} / {statistics.mean(ours.prompt_tokens):.0f} | "
        f"{sum(ref.completion_tokens)} / {sum(ours.completion_tokens)} |"
    )


def _row(name: str, ref: Result, ours: Result) -> str:
    if ref.walls:  # concurrent: throughput of the least disturbed round (median in brackets)
        ref_best, our_best = min(ref.walls), min(ours.walls)
        ref_med, our_med = statistics.median(ref.walls), statistics.median(ours.walls)
        ref_tps = sum(ref.completion_tokens) / len(ref.walls) / ref_best
        our_tps = sum(ours.completion_tokens) / len(ours.walls) / our_best
        return (
            f"| {name} | {ref_best:.2f} s ({ref_med:.2f}), {ref.requests / ref_best:.2f} req/s, {ref_tps:.1f} tok/s | "
            f"{our_best:.2f} s ({our_med:.2f}), {ours.requests / our_best:.2f} req/s, {our_tps:.1f} tok/s | "
            f"throughput ×{ref_best / our_best:.2f} ({ref_med / our_med:.2f}) | " + _tokens(ref, ours)
        )
    # min: the least disturbed run on a shared machine; median in brackets
    ref_min, our_min = min(ref.latencies), min(ours.latencies)
    ref_med, our_med = statistics.median(ref.latencies), statistics.median(ours.latencies)
    return (
        f"| {name} | {ref_min:.3f} s ({ref_med:.3f}) | {our_min:.3f} s ({our_med:.3f}) | "
        f"latency ×{our_min / ref_min:.2f} ({our_med / ref_med:.2f}) | " + _tokens(ref, ours)
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--mmproj", required=True)
    parser.add_argument("--llama-server", default=str(DEFAULT_SERVER))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--context", type=int, default=4096, help="Context per sequence on both servers.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each scenario on each server.")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--only", choices=["llama-server", "oculi"], default=None)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument(
        "--images",
        nargs="+",
        choices=["distinct", "shared"],
        default=["distinct"],
        help="Concurrent requests with a fresh image each (distinct: the honest case) and/or one shared image.",
    )
    parser.add_argument("--ttft-delay", type=float, default=1.0, help="Seconds from the encode to the new request.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="oculi-bench-"))
    n = args.concurrency
    commands = {
        "llama-server": (
            [args.llama_server, "-m", args.model, "--mmproj", args.mmproj, "--host", "127.0.0.1",
             "-t", str(args.threads), "-tb", str(args.threads), "-c", str(args.context * n), "-np", str(n),
             "--no-webui"],
            {},
        ),
        "oculi": (
            [str(REPO / ".venv" / "bin" / "oculi"), "serve", "--model", args.model, "--mmproj", args.mmproj,
             "--grpc-port", "0", "--store", f"sqlite:///{work / 'bench.db'}"],
            {"OCULI_THREADS": str(args.threads), "OCULI_MAX_BATCH_SIZE": str(n),
             "OCULI_LLAMACPP_CONTEXT": str(args.context), "OCULI_LOG_LEVEL": "warning"},
        ),
    }  # fmt: skip
    # Both servers stay up (idle, neither uses the CPU) and take turns; see run_interleaved.
    servers: list[Server] = []
    results: dict[str, dict[str, Result]] = {}
    try:
        for name, (argv, extra_env) in commands.items():
            if args.only and name != args.only:
                continue
            port = _free_port()
            server = Server(name, [*argv, "--port", str(port)], {**os.environ, **extra_env}, port, work / f"{name}.log")
            servers.append(server)
            await server.wait_ready()
            print(f"[bench] {name} ready", file=sys.stderr)
        await run_interleaved(servers, plan(args, results), args.rounds)
    finally:
        for server in servers:
            server.stop()

    print(f"\nmodel: {Path(args.model).name} + {Path(args.mmproj).name}; threads {args.threads}; "
          f"{args.max_tokens} output tokens, greedy; {args.rounds} round(s), servers alternating; "
          f"CPU: {os.cpu_count()} cores\n")  # fmt: skip
    if len(results) == 2:
        ref, ours = results["llama-server"], results["oculi"]
        print("| scenario | llama-server: best (median) | oculi: best (median) | oculi / ls | prompt | completion |")
        print("|---|---|---|---|---|---|")
        for name in ref:
            print(_row(name, ref[name], ours[name]))
    else:
        for server_name, scenarios in results.items():
            for name, r in scenarios.items():
                print(server_name, name, r)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

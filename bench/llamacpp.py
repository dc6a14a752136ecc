"""Is oculi's llama.cpp engine as fast as llama.cpp's own server on the same GGUF pair?

One run, the same model files and the same requests against both servers,
one server at a time (they would share the CPU otherwise), both over HTTP
with the OpenAI chat-completions API:

- single requests: one image at ``low`` (448×448, one tile on both servers)
  and ``high`` (896×448: SPEC §3 and mtmd both make 2 tiles + thumbnail),
  32 output tokens, greedy; the median latency of ``--repeats`` runs;
- concurrency 8: eight requests at once, different questions, with
  ``--images distinct`` (the default: a fresh image per request, the common
  case: every request pays for its own vision encoding) and/or ``shared``
  (one image for all eight: a server that caches encodings does it once);
  wall time → requests/s and completion tokens/s;
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


def _data_url(width: int, height: int, seed: int) -> str:
    """A photo-like test image (smooth gradients + noise) as a PNG data URL."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Result:
    """Latencies and token counts of one scenario on one server."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)


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


def make_images(concurrency: int, modes: list[str]) -> dict[str, list[str]]:
    """The concurrent scenarios' images by ``{detail} ({mode})``, made once so both servers get the same pixels."""
    images: dict[str, list[str]] = {}
    for n, detail in enumerate(("low", "high")):
        for mode in modes:
            seeds = [1000 * (n + 1) + i for i in range(concurrency)] if mode == "distinct" else [n + 1] * concurrency
            images[f"{detail} ({mode})"] = [_data_url(*SIZES[detail], seed=seed) for seed in seeds]
    return images


async def run_scenarios(
    server: Server,
    images: dict[str, list[str]],
    repeats: int,
    max_tokens: int,
    scenarios: list[str],
    ttft_delay: float,
) -> dict[str, Result]:
    results: dict[str, Result] = {}
    async with httpx.AsyncClient() as client:
        await _ask(client, server.url, _data_url(448, 448, 99), "low", "warm up", 4)
        for detail in ("low", "high"):
            if f"single-{detail}" not in scenarios:
                continue
            result = results.setdefault(f"single {detail}", Result())
            for i in range(repeats):
                # a fresh image each time: single-request latency includes encoding the image
                image = _data_url(*SIZES[detail], seed=100 + i)
                latency, prompt, completion = await _ask(client, server.url, image, detail, QUESTIONS[0], max_tokens)
                result.latencies.append(latency)
                result.prompt_tokens.append(prompt)
                result.completion_tokens.append(completion)
        for key, urls in images.items():
            detail = key.split()[0]
            if f"concurrent-{detail}" not in scenarios:
                continue
            result = results.setdefault(f"concurrent x{len(urls)} {key}", Result())
            start = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    _ask(client, server.url, url, detail, QUESTIONS[i % len(QUESTIONS)], max_tokens)
                    for i, url in enumerate(urls)
                )
            )
            result.wall = time.perf_counter() - start
            print(f"[bench] {server.name}: {key} x{len(urls)} in {result.wall:.2f} s", file=sys.stderr)
            for latency, prompt, completion in answers:
                result.latencies.append(latency)
                result.prompt_tokens.append(prompt)
                result.completion_tokens.append(completion)
        if "ttft" in scenarios:
            result = results.setdefault(f"first token during an encode (+{ttft_delay:g} s)", Result())
            for i in range(repeats):
                busy = asyncio.create_task(
                    _ask(client, server.url, _data_url(*SIZES["high"], seed=300 + i), "high", QUESTIONS[2], max_tokens)
                )
                await asyncio.sleep(ttft_delay)
                result.latencies.append(await _first_token(client, server.url, _data_url(448, 448, 400 + i), 8))
                await busy
                print(f"[bench] {server.name}: first token after {result.latencies[-1]:.2f} s", file=sys.stderr)
    return results


def _tokens(ref: Result, ours: Result) -> str:
    if not ref.prompt_tokens:
        return "– | – |"
    return (
        f"{statistics.mean(ref.prompt_tokens):.0f} / {statistics.mean(ours.prompt_tokens):.0f} | "
        f"{sum(ref.completion_tokens)} / {sum(ours.completion_tokens)} |"
    )


def _row(name: str, ref: Result, ours: Result) -> str:
    if ref.wall:
        ref_rps, our_rps = len(ref.latencies) / ref.wall, len(ours.latencies) / ours.wall
        ref_tps, our_tps = sum(ref.completion_tokens) / ref.wall, sum(ours.completion_tokens) / ours.wall
        return (
            f"| {name} | {ref.wall:.2f} s, {ref_rps:.2f} req/s, {ref_tps:.1f} tok/s | "
            f"{ours.wall:.2f} s, {our_rps:.2f} req/s, {our_tps:.1f} tok/s | "
            f"throughput ×{our_rps / ref_rps:.2f} | " + _tokens(ref, ours)
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--only", choices=["llama-server", "oculi"], default=None)
    parser.add_argument("--first", choices=["llama-server", "oculi"], default="llama-server", help="Which runs first.")
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

    images = make_images(args.concurrency, args.images)
    work = Path(tempfile.mkdtemp(prefix="oculi-bench-"))
    n = args.concurrency
    servers = {
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
    results: dict[str, dict[str, Result]] = {}
    order = sorted(servers, key=lambda name: name != args.first)
    for name in order:
        argv, extra_env = servers[name]
        if args.only and name != args.only:
            continue
        port = _free_port()
        server = Server(name, [*argv, "--port", str(port)], {**os.environ, **extra_env}, port, work / f"{name}.log")
        try:
            await server.wait_ready()
            print(f"[bench] {name} ready; running scenarios", file=sys.stderr)
            results[name] = await run_scenarios(
                server, images, args.repeats, args.max_tokens, args.scenarios, args.ttft_delay
            )
        finally:
            server.stop()

    print(f"\nmodel: {Path(args.model).name} + {Path(args.mmproj).name}; threads {args.threads}; "
          f"{args.max_tokens} output tokens, greedy; CPU: {os.cpu_count()} cores\n")  # fmt: skip
    if len(results) == 2:
        ref, ours = results["llama-server"], results["oculi"]
        print("| scenario | llama-server: min (median) | oculi: min (median) | oculi / ls | prompt | completion |")
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

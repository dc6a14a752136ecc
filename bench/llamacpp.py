"""Is oculi's llama.cpp engine as fast as llama.cpp's own server on the same GGUF pair?

One run, the same model files and the same requests against both servers,
one server at a time (they would share the CPU otherwise), both over HTTP
with the OpenAI chat-completions API:

- single requests: one image at ``low`` (448×448, one tile on both servers)
  and ``high`` (896×448: SPEC §3 and mtmd both make 2 tiles + thumbnail),
  32 output tokens, greedy; the median latency of ``--repeats`` runs;
- concurrency 8: eight requests at once, same image, different questions;
  wall time → requests/s and completion tokens/s.

Prints a table with oculi/llama-server ratios (latency: lower is better;
throughput: higher is better). Targets (issue 8): ≤ 1.1× latency on single
requests, > 1× throughput at concurrency 8.

Usage::

    scripts/build_llamacpp.sh --server
    .venv/bin/python scripts/make_gguf_fixtures.py --skip-tiny --bench /tmp/bench-gguf   # real-size model
    .venv/bin/python bench/llamacpp.py --model /tmp/bench-gguf/internvl3-1b-random.gguf \\
        --mmproj /tmp/bench-gguf/internvl3-1b-random-mmproj.gguf
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
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


async def _ask(
    client: httpx.AsyncClient, url: str, image: str, detail: str, question: str, max_tokens: int
) -> tuple[float, int, int]:
    body = {
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
    }
    start = time.perf_counter()
    response = await client.post(url + "/v1/chat/completions", json=body, timeout=1800)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    usage = response.json()["usage"]
    return elapsed, int(usage["prompt_tokens"]), int(usage["completion_tokens"])


SCENARIOS = ("single-low", "single-high", "concurrent-low", "concurrent-high")


async def run_scenarios(
    server: Server, images: dict[str, str], repeats: int, max_tokens: int, concurrency: int, scenarios: list[str]
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
                image = _data_url(*((448, 448) if detail == "low" else (896, 448)), seed=100 + i)
                latency, prompt, completion = await _ask(client, server.url, image, detail, QUESTIONS[0], max_tokens)
                result.latencies.append(latency)
                result.prompt_tokens.append(prompt)
                result.completion_tokens.append(completion)
        for detail in ("low", "high"):
            if f"concurrent-{detail}" not in scenarios:
                continue
            result = results.setdefault(f"concurrent x{concurrency} {detail}", Result())
            start = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    _ask(client, server.url, images[detail], detail, QUESTIONS[i % len(QUESTIONS)], max_tokens)
                    for i in range(concurrency)
                )
            )
            result.wall = time.perf_counter() - start
            for latency, prompt, completion in answers:
                result.latencies.append(latency)
                result.prompt_tokens.append(prompt)
                result.completion_tokens.append(completion)
    return results


def _row(name: str, ref: Result, ours: Result) -> str:
    if ref.wall:
        ref_rps, our_rps = len(ref.latencies) / ref.wall, len(ours.latencies) / ours.wall
        ref_tps, our_tps = sum(ref.completion_tokens) / ref.wall, sum(ours.completion_tokens) / ours.wall
        return (
            f"| {name} | {ref.wall:.2f} s, {ref_rps:.2f} req/s, {ref_tps:.1f} tok/s | "
            f"{ours.wall:.2f} s, {our_rps:.2f} req/s, {our_tps:.1f} tok/s | "
            f"throughput ×{our_rps / ref_rps:.2f} | {statistics.mean(ref.prompt_tokens):.0f} / "
            f"{statistics.mean(ours.prompt_tokens):.0f} | "
            f"{sum(ref.completion_tokens)} / {sum(ours.completion_tokens)} |"
        )
    # min: the least disturbed run on a shared machine; median in brackets
    ref_min, our_min = min(ref.latencies), min(ours.latencies)
    ref_med, our_med = statistics.median(ref.latencies), statistics.median(ours.latencies)
    return (
        f"| {name} | {ref_min:.3f} s ({ref_med:.3f}) | {our_min:.3f} s ({our_med:.3f}) | "
        f"latency ×{our_min / ref_min:.2f} ({our_med / ref_med:.2f}) | "
        f"{statistics.mean(ref.prompt_tokens):.0f} / {statistics.mean(ours.prompt_tokens):.0f} | "
        f"{sum(ref.completion_tokens)} / {sum(ours.completion_tokens)} |"
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
    args = parser.parse_args()

    images = {"low": _data_url(448, 448, 1), "high": _data_url(896, 448, 2)}
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
            results[name] = await run_scenarios(server, images, args.repeats, args.max_tokens, n, args.scenarios)
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

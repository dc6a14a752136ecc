"""Is oculi's vLLM engine as fast as vLLM's own OpenAI server on the same checkpoint?

One run, the same checkpoint and requests against both servers, both over
HTTP with the OpenAI chat-completions API. Both servers are up at once but
only one works at a time: every scenario runs ``--rounds`` times on each,
the servers taking turns and alternating which goes first (ABBA…), so a
shared host that speeds up or slows down during the run favours neither.
The CPU time each server spends while the other works is printed: what an
idle server takes from the working one (vLLM's readers busy-poll for a second
after their last message, in both servers).

- single requests: one 900×600 PNG at ``high``, 16 output tokens, greedy;
  ``--repeats`` requests per round, each with a fresh image; latency;
- concurrency 1 / 8 / 32: ``2 × c`` requests (at least 8), ``c`` at a time,
  with distinct images (fresh pixels each, every round) and with one shared
  image (a new one each round); wall time → requests/s;
- ``detail: low`` vs ``high`` in oculi: image tokens and latency (vLLM's server
  ignores ``detail`` and charges the same for both). vLLM's server is started
  with the checkpoint's tiling on (up to 6 tiles + thumbnail), so at ``high``
  both sides encode the same number of views.

Prints oculi/vLLM ratios of the median round (best round in brackets;
latency: lower is better, throughput: higher is better). Targets (issue 13):
latency ≤ 1.05×, throughput ≥ 1.0×.

Usage (CPU: vLLM's CPU build, ``OCULI_VLLM=cpu ./scripts/install.sh``)::

    VLLM_CPU_KVCACHE_SPACE=1 .venv/bin/python bench/vllm.py                       # tiny InternVL
    .venv/bin/python bench/vllm.py --checkpoint internvl3-1b-random --no-eager    # real sizes (GPU)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil  # a dependency of vLLM, which this benchmark needs anyway
from PIL import Image

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import free_port, running_server

SIDE = (900, 600)


@dataclass
class Server:
    name: str
    v1: str
    model: str
    pid: int

    def cpu_seconds(self) -> tuple[float, float, float]:
        """CPU time used so far by the server's API process, vLLM's engine core and its workers."""
        used = [0.0, 0.0, 0.0]
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    part = 0 if proc.pid == self.pid else 1 if "EngineCore" in proc.name() else 2
                    used[part] += times.user + times.system
        return used[0], used[1], used[2]


@dataclass
class Result:
    """One scenario on one server: a value per round (seconds or requests/s), image tokens reported, and per
    request: prompt and completion tokens, CPU seconds of the API process, the engine core and the workers."""

    values: list[float] = field(default_factory=list)
    image_tokens: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def add(self, answer: Answer) -> None:
        self.requests += 1
        self.image_tokens = answer.image_tokens
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens


@dataclass
class Answer:
    seconds: float
    prompt_tokens: int
    image_tokens: int
    completion_tokens: int


def data_url(seed: int) -> str:
    rng = np.random.default_rng(seed)
    width, height = SIDE
    pixels = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize(SIDE, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def ask(client: httpx.AsyncClient, server: Server, url: str, detail: str, max_tokens: int) -> Answer:
    """One request: its latency and the usage reported."""
    body = {
        "model": server.model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url, "detail": detail}},
                    {"type": "text", "text": "Describe the image."},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    started = time.perf_counter()
    response = await client.post(server.v1 + "/chat/completions", json=body)
    response.raise_for_status()
    usage = response.json()["usage"]
    image_tokens = int((usage.get("prompt_tokens_details") or {}).get("image_tokens") or 0)
    return Answer(time.perf_counter() - started, usage["prompt_tokens"], image_tokens, usage["completion_tokens"])


Unit = Callable[[httpx.AsyncClient, Server, int], Awaitable[None]]


def plan(opts: argparse.Namespace, results: dict[str, dict[str, Result]]) -> list[tuple[str, Unit]]:
    """The scenarios, each a coroutine run once per round per server; they record into ``results``."""
    units: list[tuple[str, Unit]] = []
    seeds = iter(range(10_000, 10_000_000, 1000))

    def result(server: Server, name: str) -> Result:
        return results.setdefault(server.name, {}).setdefault(name, Result())

    for detail in ("high", "low"):
        base = next(seeds)

        async def single(
            client: httpx.AsyncClient, server: Server, round_: int, detail: str = detail, base: int = base
        ) -> None:
            # Fresh pixels per request, and other images at low than at high: the same image would hit vLLM's
            # server's processor / encoder caches (it ignores ``detail``: to it they are the images it just
            # encoded), and not oculi's (other views). Both servers get the same images in the same round.
            r = result(server, f"latency {detail}")
            runs = [
                await ask(client, server, data_url(base + round_ * 100 + i), detail, opts.max_tokens)
                for i in range(opts.repeats)
            ]
            r.values.append(statistics.median(a.seconds for a in runs))
            for answer in runs:
                r.add(answer)

        units.append((f"latency {detail}", single))
    for c in () if opts.single_only else opts.concurrency:
        for kind in ("distinct", "shared"):
            base = next(seeds)

            async def concurrent(
                client: httpx.AsyncClient, server: Server, round_: int, c: int = c, kind: str = kind, base: int = base
            ) -> None:
                total = max(8, 2 * c)
                first = base + round_ * 100
                urls = [data_url(first + (i if kind == "distinct" else 0)) for i in range(total)]
                limit = asyncio.Semaphore(c)

                async def one(url: str) -> Answer:
                    async with limit:
                        return await ask(client, server, url, "high", opts.max_tokens)

                started = time.perf_counter()
                answers = await asyncio.gather(*(one(u) for u in urls))
                r = result(server, f"req/s c={c} {kind}")
                r.values.append(total / (time.perf_counter() - started))
                for answer in answers:
                    r.add(answer)

            units.append((f"req/s c={c} {kind}", concurrent))
    return units


async def run_interleaved(
    servers: list[Server], units: list[tuple[str, Unit]], rounds: int, results: dict[str, dict[str, Result]]
) -> dict[str, float]:
    """Each unit ``rounds`` times on every server, alternating which goes first; returns, per server, the CPU
    seconds it used while the other one worked (what it took from the other's cores)."""
    idle_cpu = {s.name: 0.0 for s in servers}
    async with httpx.AsyncClient(timeout=900) as client:
        for server in servers:  # warm-up: first-request compilation, allocator growth
            await ask(client, server, data_url(1), "high", 4)
            await ask(client, server, data_url(2), "low", 4)
        for name, unit in units:
            for round_ in range(rounds):
                for server in servers if round_ % 2 == 0 else servers[::-1]:
                    before = {s.name: s.cpu_seconds() for s in servers}
                    started = time.perf_counter()
                    await unit(client, server, round_)
                    took = time.perf_counter() - started
                    for s in servers:
                        used = [now - then for now, then in zip(s.cpu_seconds(), before[s.name], strict=True)]
                        if s is server:
                            r = results[s.name][name]
                            r.cpu = [a + b for a, b in zip(r.cpu, used, strict=True)]
                        else:
                            idle_cpu[s.name] += sum(used)
                    print(f"[bench] {name} round {round_ + 1}: {server.name} {took:.2f} s", file=sys.stderr)
    return idle_cpu


@contextlib.contextmanager
def vllm_server(checkpoint: Path, args: list[str]) -> Iterator[Server]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "vllm.log"
        argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(checkpoint)]
        argv += ["--served-model-name", "m", "--port", str(port), "--enable-prompt-tokens-details", *args]
        with log.open("wb") as f:
            process = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"vLLM's server exited:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                time.sleep(0.5)
            else:
                raise TimeoutError("vLLM's server did not become ready")
            yield Server("vLLM", f"http://127.0.0.1:{port}/v1", "m", process.pid)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="tiny-internvl-vllm", help="oculi.testing.checkpoints name or a path")
    parser.add_argument("--repeats", type=int, default=3, help="single requests per round")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each scenario on each server")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-num-seqs", type=int, default=32)
    parser.add_argument("--single-only", action="store_true", help="only the single-request latencies (quicker)")
    parser.add_argument("--no-eager", action="store_true", help="let vLLM compile / capture graphs (GPU)")
    opts = parser.parse_args()
    path = Path(opts.checkpoint)
    checkpoint = path if path.is_dir() else cached_checkpoint(opts.checkpoint)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    # The same work at high on both sides: vLLM's processor cuts up to 6 tiles + a thumbnail (its default for
    # these checkpoints is one 448 view whatever the detail); SPEC §3 does the same except on a 1×1 grid.
    tiling = '{"crop_to_patches": true, "max_patches": 6}'
    vllm_args = ["--max-num-seqs", str(opts.max_num_seqs), "--max-model-len", "8192", "--mm-processor-kwargs", tiling]
    env = {"OCULI_ENGINE": "vllm", "OCULI_MAX_BATCH_SIZE": str(opts.max_num_seqs), "OCULI_VLLM_MAX_MODEL_LEN": "8192"}
    if not opts.no_eager:
        vllm_args.append("--enforce-eager")
        env["OCULI_VLLM_ENFORCE_EAGER"] = "true"

    results: dict[str, dict[str, Result]] = {}
    with running_server(models=[str(checkpoint)], env=env, grpc=False, startup_timeout=900) as s:
        oculi = Server("oculi", s.v1, "grok-4", s.process.pid)
        with vllm_server(checkpoint, vllm_args) as v:
            idle_cpu = asyncio.run(run_interleaved([oculi, v], plan(opts, results), opts.rounds, results))

    ours, ref = results["oculi"], results["vLLM"]
    print(
        f"\ncheckpoint {checkpoint.name}, {opts.max_tokens} output tokens, greedy, {SIDE[0]}×{SIDE[1]} PNG; "
        f"{opts.rounds} round(s), servers alternating; {os.cpu_count()} CPU cores"
    )
    print(f"{'measure':<24}{'oculi':>20}{'vLLM':>20}{'oculi/vLLM':>18}")
    for key in ours:
        a, b = ours[key].values, ref[key].values
        unit = "s" if key.startswith("latency") else ""
        # latency: lower is better, so the best round is the minimum; throughput: the maximum
        best = min if key.startswith("latency") else max
        ratio, best_ratio = statistics.median(a) / statistics.median(b), best(a) / best(b)
        print(
            f"{key:<24}{statistics.median(a):>10.3f}{unit} ({best(a):.3f}){statistics.median(b):>10.3f}{unit} "
            f"({best(b):.3f}){ratio:>10.2f} ({best_ratio:.2f})"
        )
    lo, hi = ours["latency low"], ours["latency high"]
    print(
        f"\ndetail low vs high in oculi: image tokens {lo.image_tokens} vs {hi.image_tokens}, latency "
        f"{statistics.median(lo.values):.3f}s vs {statistics.median(hi.values):.3f}s "
        f"({statistics.median(hi.values) / statistics.median(lo.values):.2f}× faster at low); vLLM's server reports "
        f"image_tokens {ref['latency low'].image_tokens} and {ref['latency high'].image_tokens} for the same work"
    )
    print("\nper request: prompt / completion tokens; CPU seconds of the API process + engine core + workers")
    for key in ours:
        line = f"{key:<24}"
        for name, r in (("oculi", ours[key]), ("vLLM", ref[key])):
            n = r.requests
            cpu = " + ".join(f"{c / n:.3f}" for c in r.cpu)
            line += f"{name} {r.prompt_tokens / n:.0f} / {r.completion_tokens / n:.1f} tokens, {cpu} s   "
        print(line.rstrip())
    print(
        "CPU seconds each server used while the other worked: " + ", ".join(f"{k} {v:.1f}" for k, v in idle_cpu.items())
    )


if __name__ == "__main__":
    main()

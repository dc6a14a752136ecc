"""Does memory stay within the budget under load, and does it come back afterwards? (issue 11)

Two scenarios against a real ``oculi serve`` subprocess (transformers engine,
tiny InternVL checkpoint, as in the issue):

- (a) photos: 64 clients × 3 requests, each with its own 1600×1200 JPEG;
- (b) noise: 30 clients at once, each request with 10 incompressible 3 MB PNGs
  (``detail: low``, so the 10 images fit the tiny model's context).

Each scenario runs twice in the same invocation, on two servers started the
same way from the same code:

- baseline: the hardening knobs off — no decoded-memory budget
  (``OCULI_MAX_INFLIGHT_DECODED_BYTES=0``), no trim when idle, glibc's default
  malloc arenas (``OCULI_MALLOC_ARENA_MAX=0``): what the server did before;
- hardened: the defaults (or ``--budget-mib``).

Clients honour 429 + ``retry-after`` (up to 60 tries), so every request
finishes in both runs and latencies compare like for like. Printed per run:
RSS before the load, peak RSS (sampled every 50 ms), RSS after 8 s idle,
p50/p99 latency, statuses; then hardened/baseline ratios. Targets: peak within
pre-load RSS + budget, idle within 20 % of pre-load (also shown without what the
configured caches hold, read from ``/metrics``), no 5xx.

    .venv/bin/python bench/stress.py [--scenario photos noise] [--budget-mib 2048]
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import ServerProcess, running_server

KEY = "sk-bench-stress"
AUTH = {"authorization": f"Bearer {KEY}"}
MiB = 1024 * 1024
IDLE_SECONDS = 8.0


def photo(seed: int) -> bytes:
    """A 1600×1200 photo-like JPEG (gradients plus noise), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1200, 0:1600]
    base = np.stack([x * 255 // 1600, y * 255 // 1200, (x + y + seed * 37) % 256], axis=-1)
    pixels = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def noise_png(seed: int) -> bytes:
    """An incompressible ~3 MB PNG (1000×1000 random RGB)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def body(images: list[bytes], mime: str, detail: str = "auto") -> dict:
    parts: list[dict] = [{"type": "text", "text": "What is in these images?"}]
    parts += [
        {
            "type": "image_url",
            "image_url": {"url": f"data:{mime};base64,{base64.b64encode(i).decode()}", "detail": detail},
        }
        for i in images
    ]
    return {"model": "grok-4", "max_tokens": 4, "temperature": 0, "messages": [{"role": "user", "content": parts}]}


@dataclass
class Run:
    """What one scenario did to one server."""

    name: str
    before: int = 0
    peak: int = 0
    idle: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    caches: int = 0  # bytes the server's caches held when idle (from /metrics)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        return (
            f"{self.name:9s} RSS before {self.before / MiB:6.0f} MiB  peak {self.peak / MiB:6.0f} MiB  "
            f"idle {self.idle / MiB:6.0f} MiB ({self.idle / self.before:4.2f}x before; "
            f"caches {self.caches / MiB:.0f} MiB)  "
            f"p50 {self.p(0.5):6.2f} s  p99 {self.p(0.99):6.2f} s  statuses {self.statuses}  429 retries {self.retries}"
        )


def post(client: httpx.Client, server: ServerProcess, payload: dict, run: Run, lock: threading.Lock) -> None:
    started = time.monotonic()
    for _ in range(60):
        response = client.post(server.v1 + "/chat/completions", json=payload, headers=AUTH)
        if response.status_code != 429:
            break
        with lock:
            run.retries += 1
        time.sleep(float(response.headers.get("retry-after", "1")))
    with lock:
        run.latencies.append(time.monotonic() - started)
        run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1


def measure(server: ServerProcess, name: str, clients: int, jobs: list[dict]) -> Run:
    run = Run(name, before=server.rss_bytes())
    run.peak = run.before
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set() and server.alive():
            try:
                run.peak = max(run.peak, server.rss_bytes())
            except (OSError, RuntimeError):
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lock = threading.Lock()
    with httpx.Client(timeout=600) as client, ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda payload: post(client, server, payload, run, lock), jobs))
    time.sleep(IDLE_SECONDS)
    stop.set()
    sampler.join()
    run.idle = server.rss_bytes()
    metrics = httpx.get(server.base_url + "/metrics", headers=AUTH, timeout=30).text
    run.caches = int(
        sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("oculi_cache_bytes{"))
    )
    return run


def scenarios() -> dict[str, tuple[int, Callable[[], list[dict]]]]:
    def photos() -> list[dict]:
        pictures = [photo(seed) for seed in range(64)]
        return [body([pictures[c]], "image/jpeg") for _ in range(3) for c in range(64)]

    def noise() -> list[dict]:
        # detail "low": ten high-detail images (12 800 image tokens) would not fit the tiny model's context.
        return [body([noise_png(c * 10 + i) for i in range(10)], "image/png", "low") for c in range(30)]

    return {"photos": (64, photos), "noise": (30, noise)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", nargs="+", default=["photos", "noise"], choices=["photos", "noise"])
    parser.add_argument("--budget-mib", type=int, default=2048, help="the hardened server's decoded-memory budget")
    args = parser.parse_args()
    checkpoint = str(cached_checkpoint("tiny-internvl"))
    variants = {
        "baseline": {
            "OCULI_MAX_INFLIGHT_DECODED_BYTES": "0",
            "OCULI_TRIM_MEMORY_WHEN_IDLE": "false",
            "OCULI_MALLOC_ARENA_MAX": "0",
        },
        "hardened": {"OCULI_MAX_INFLIGHT_DECODED_BYTES": str(args.budget_mib * MiB)},
    }
    table = scenarios()
    failed = False
    for scenario in args.scenario:
        clients, build = table[scenario]
        jobs = build()
        print(f"\n== {scenario}: {clients} clients, {len(jobs)} requests ==", flush=True)
        runs = {}
        for variant, env in variants.items():
            common = {"OCULI_THREADS": "2", "OCULI_MAX_QUEUE": "256", "OCULI_REQUEST_BODY_TIMEOUT": "600"}
            with running_server(models=[checkpoint], api_keys=[KEY], grpc=False, env={**common, **env}) as server:
                try:
                    runs[variant] = measure(server, variant, clients, jobs)
                except (httpx.HTTPError, RuntimeError, OSError) as exc:
                    code = server.process.poll()
                    print(f"{variant:9s} the server died under the load (exit {code}): {type(exc).__name__}")
                    print(server.log_text()[-800:])
                    failed |= variant == "hardened"
                    continue
            print(runs[variant].line(), flush=True)
        if len(runs) < 2:
            continue
        base, hard = runs["baseline"], runs["hardened"]
        print(
            f"hardened/baseline: peak growth {(hard.peak - hard.before) / max(1, base.peak - base.before):.2f}x  "
            f"idle growth {(hard.idle - hard.before) / max(1, base.idle - base.before):.2f}x  "
            f"p99 {hard.p(0.99) / base.p(0.99):.2f}x"
        )
        budget_ok = hard.peak <= hard.before + args.budget_mib * MiB
        idle_ok = hard.idle <= 1.2 * hard.before
        idle_ok_but_caches = hard.idle - hard.caches <= 1.2 * hard.before
        no_5xx = not any(s >= 500 for s in hard.statuses)
        print(
            f"targets: peak within budget {budget_ok}, idle within 20 % {idle_ok} "
            f"(without the configured caches: {idle_ok_but_caches}), no 5xx {no_5xx}"
        )
        failed |= not (budget_ok and no_5xx)
    print("\n(one run each, on whatever machine this is: if it is shared, latencies are noisy)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

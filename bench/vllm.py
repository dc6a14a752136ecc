"""Is oculi's vLLM engine as fast as vLLM's own OpenAI server on the same checkpoint?

One run, the same checkpoint and requests against both servers, one after the
other (they would share the machine otherwise), both over HTTP with the OpenAI
chat-completions API:

- single requests: one 900×600 PNG at ``high``, 16 output tokens, greedy;
  median latency of ``--repeats`` runs;
- concurrency 1 / 8 / 32: ``2 × c`` requests (at least 8), ``c`` at a time,
  with distinct images (different pixels each) and with one shared image;
  wall time → requests/s;
- ``detail: low`` vs ``high`` in oculi: image tokens and latency (vLLM's server
  ignores ``detail`` and charges the same for both; other images than at
  ``high``, or its caches would answer). vLLM's server is started
  with the checkpoint's tiling on (up to 6 tiles + thumbnail), so at ``high``
  both sides encode the same number of views.

Prints oculi/vLLM ratios (latency: lower is better; throughput: higher is
better). Targets (issue 13): latency ≤ 1.05×, throughput ≥ 1.0×.

Usage (CPU: vLLM's CPU build, ``OCULI_VLLM=cpu ./scripts/install.sh``)::

    VLLM_CPU_KVCACHE_SPACE=2 .venv/bin/python bench/vllm.py                       # tiny InternVL
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from oculi.testing.checkpoints import cached_checkpoint
from oculi.testing.server import free_port, running_server


@dataclass
class Server:
    name: str
    v1: str
    model: str


def data_url(width: int, height: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def ask(client: httpx.AsyncClient, server: Server, url: str, detail: str, max_tokens: int) -> tuple[float, int]:
    """One request; (seconds, image tokens reported)."""
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
    details = response.json()["usage"].get("prompt_tokens_details") or {}
    return time.perf_counter() - started, int(details.get("image_tokens") or 0)


async def scenarios(server: Server, repeats: int, max_tokens: int, single_only: bool = False) -> dict[str, float]:
    out: dict[str, float] = {}
    shared = data_url(900, 600, 0)
    async with httpx.AsyncClient(timeout=600) as client:
        await ask(client, server, shared, "high", max_tokens)  # warm-up
        for seed, detail in ((100, "high"), (200, "low")):
            # Other images at low: the same ones would hit vLLM's server's processor / encoder caches (it ignores
            # ``detail``, so to it they are the images it just encoded), and oculi's would not (other views).
            runs = [await ask(client, server, data_url(900, 600, seed + i), detail, max_tokens) for i in range(repeats)]
            out[f"latency {detail}"] = statistics.median(r[0] for r in runs)
            out[f"image tokens {detail}"] = runs[0][1]
        for c in () if single_only else (1, 8, 32):
            for kind in ("distinct", "shared"):
                total = max(8, 2 * c)
                urls = [data_url(900, 600, 1000 + c * 100 + i) if kind == "distinct" else shared for i in range(total)]
                limit = asyncio.Semaphore(c)

                async def one(url: str, limit: asyncio.Semaphore = limit) -> None:
                    async with limit:
                        await ask(client, server, url, "high", max_tokens)

                started = time.perf_counter()
                await asyncio.gather(*(one(u) for u in urls))
                out[f"req/s c={c} {kind}"] = total / (time.perf_counter() - started)
    return out


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
            yield Server("vLLM", f"http://127.0.0.1:{port}/v1", "m")
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="tiny-internvl-vllm", help="oculi.testing.checkpoints name or a path")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-num-seqs", type=int, default=32)
    parser.add_argument("--single-only", action="store_true", help="only the single-request latencies (quicker)")
    parser.add_argument("--no-eager", action="store_true", help="let vLLM compile / capture graphs (GPU)")
    opts = parser.parse_args()
    path = Path(opts.checkpoint)
    checkpoint = path if path.is_dir() else cached_checkpoint(opts.checkpoint)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    # The same work at high on both sides: vLLM's processor cuts up to 6 tiles + a thumbnail (its default for
    # these checkpoints is one 448 view whatever the detail); SPEC §3 does the same except on a 1×1 grid.
    tiling = '{"crop_to_patches": true, "max_patches": 6}'
    vllm_args = ["--max-num-seqs", str(opts.max_num_seqs), "--max-model-len", "8192", "--mm-processor-kwargs", tiling]
    env = {"OCULI_ENGINE": "vllm", "OCULI_MAX_BATCH_SIZE": str(opts.max_num_seqs), "OCULI_VLLM_MAX_MODEL_LEN": "8192"}
    if not opts.no_eager:
        vllm_args.append("--enforce-eager")
        env["OCULI_VLLM_ENFORCE_EAGER"] = "true"

    results: dict[str, dict[str, float]] = {}
    with running_server(models=[str(checkpoint)], env=env, grpc=False, startup_timeout=900) as s:
        oculi = Server("oculi", s.v1, "grok-4")
        results["oculi"] = asyncio.run(scenarios(oculi, opts.repeats, opts.max_tokens, opts.single_only))
    with vllm_server(checkpoint, vllm_args) as v:
        results["vLLM"] = asyncio.run(scenarios(v, opts.repeats, opts.max_tokens, opts.single_only))

    ours, ref = results["oculi"], results["vLLM"]
    print(f"\ncheckpoint {checkpoint.name}, {opts.max_tokens} output tokens, greedy, 900×600 PNG")
    print(f"{'measure':<26}{'oculi':>12}{'vLLM':>12}{'oculi/vLLM':>12}")
    for key in ours:
        if key.startswith("image tokens"):
            continue
        unit = "s" if key.startswith("latency") else ""
        print(f"{key:<26}{ours[key]:>11.3f}{unit:1}{ref[key]:>11.3f}{unit:1}{ours[key] / ref[key]:>12.2f}")
    print(
        f"\ndetail low vs high in oculi: image tokens {ours['image tokens low']:.0f} vs "
        f"{ours['image tokens high']:.0f}, latency {ours['latency low']:.3f}s vs {ours['latency high']:.3f}s "
        f"({ours['latency high'] / ours['latency low']:.2f}× faster at low); vLLM's server reports image_tokens "
        f"{ref['image tokens low']:.0f} and {ref['image tokens high']:.0f} (0: not reported) for the same work"
    )


if __name__ == "__main__":
    main()

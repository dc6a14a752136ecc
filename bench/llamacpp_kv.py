"""KV memory of oculi's llama.cpp engine on a sliding-window model, next to llama-server's on the same GGUF.

Gemma 3 (and 4) attend over a 1024-token window in five layers of six: a
cache that keeps every position for those layers holds about 6× what they
can ever read. llama-server keeps a window per sequence there (``swa_full``
off); oculi now does too, and reuses a prefix only where its window is still
held (``Native.holds_prefix``).

Three servers, one after another, on the same GGUF pair with the same
context per slot and the same number of slots:

- ``llama-server`` (its defaults: a window-sized cache for the window layers),
- ``llama-server --swa-full`` (a full-context cache for every layer: what
  oculi allocated before issue 30),
- ``oculi``.

Each reads one request (an image and a question of ``--words``
words, so a slot holds several windows' worth) and answers it; then the
table: the KV buffers llama.cpp itself reports at context creation (its
``KV buffer size`` log lines, base and window caches summed), the process's
RSS after the answer, and oculi / llama-server. The RSS columns differ by
more than the KV cache (oculi's Python runtime); the KV column is the
comparison.

Usage::

    scripts/build_llamacpp.sh --server
    .venv/bin/python scripts/make_gguf_fixtures.py --skip-tiny --bench-gemma3 /tmp/bench-gguf
    .venv/bin/python bench/llamacpp_kv.py --model /tmp/bench-gguf/gemma3-4b-kv-random.gguf \\
        --mmproj /tmp/bench-gguf/gemma3-4b-kv-random-mmproj.gguf
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path

import httpx
from llamacpp import DEFAULT_SERVER, REPO, Server, _data_url, _free_port

KV_LINE = re.compile(r"KV buffer size\s*=\s*([0-9.]+)\s*MiB")


def kv_mib(log: str) -> float:
    """The KV buffers llama.cpp allocated (MiB), as its log reports them."""
    return sum(float(m) for m in KV_LINE.findall(log))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(name: str, argv: list[str], env: dict[str, str], log: Path, words: int) -> dict[str, float]:
    port = _free_port()
    server = Server(name, [*argv, "--port", str(port)], {**os.environ, **env}, port, log)
    try:
        await server.wait_ready()
        question = "Describe the image. " + " ".join(f"word{i % 97}" for i in range(words))
        body = {
            "model": "grok-4",
            "max_tokens": 16,
            "temperature": 0,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": _data_url(896, 896, 1), "detail": "low"}},
                        {"type": "text", "text": question},
                    ],
                }
            ],
        }
        headers = {"Authorization": "Bearer sk-bench"}
        async with httpx.AsyncClient(timeout=900) as client:
            response = await client.post(server.url + "/v1/chat/completions", json=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:500]}")
        usage = response.json()["usage"]
        rss = rss_mib(server.proc.pid)
    finally:
        server.stop()
    text = await asyncio.to_thread(log.read_text, errors="replace")
    return {"kv": kv_mib(text), "rss": rss, "prompt": usage["prompt_tokens"]}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--mmproj", required=True)
    parser.add_argument("--llama-server", default=str(DEFAULT_SERVER))
    parser.add_argument("--context", type=int, default=8192, help="Context per slot on every server.")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--words", type=int, default=1200, help="Words in the question (several windows of tokens).")
    parser.add_argument("--only", action="append", help="Only these servers (repeatable).")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="oculi-bench-kv-"))
    n, ctx = args.slots, args.context
    server = [
        args.llama_server,
        "-m",
        args.model,
        "--mmproj",
        args.mmproj,
        "--host",
        "127.0.0.1",
        "-t",
        str(args.threads),
        "-tb",
        str(args.threads),
        "-c",
        str(ctx * n),
        "-np",
        str(n),
        "--no-webui",
        "-v",  # llama.cpp's own log lines, its KV buffer sizes among them
    ]
    runs = {
        "llama-server": (server, {}),
        "llama-server --swa-full": ([*server, "--swa-full"], {}),
        "oculi": (
            [str(REPO / ".venv" / "bin" / "oculi"), "serve", "--model", args.model, "--mmproj", args.mmproj,
             "--grpc-port", "0", "--store", f"sqlite:///{work / 'bench.db'}", "--api-key", "sk-bench"],
            {"OCULI_THREADS": str(args.threads), "OCULI_MAX_BATCH_SIZE": str(n),
             "OCULI_LLAMACPP_CONTEXT": str(ctx), "OCULI_LOG_LEVEL": "debug"},
        ),
    }  # fmt: skip
    results = {}
    for name, (argv, env) in runs.items():
        if args.only and name not in args.only:
            continue
        results[name] = await measure(name, argv, env, work / f"{name.replace(' ', '')}.log", args.words)
        print(f"[bench] {name}: {results[name]}", file=sys.stderr)

    ref = results.get("llama-server", {}).get("kv", float("nan"))
    print(f"\nmodel: {Path(args.model).name}; {n} slots × {ctx} positions; "
          f"one request of {results['oculi']['prompt']} prompt tokens\n")  # fmt: skip
    print("| server | KV buffers (MiB) | ÷ llama-server | RSS after the request (MiB) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        ratio = r["kv"] / ref if ref else float("nan")
        print(f"| {name} | {r['kv']:.1f} | ×{ratio:.2f} | {r['rss']:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())

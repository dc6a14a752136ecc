"""Where does the time of ``bench/llamacpp.py``'s distinct-image case go? The parts, timed one by one.

Loads the GGUF pair through oculi's own ``Native`` (the engine's loading
code) and times, with the same ggml kernels both servers use:

- the vision encoder on one 448×448 tile (``mtmd_encode_chunk``);
- the image embeddings' prompt evaluation (256 positions) and a text prompt;
- one decode step of 8 sequences in a single batch;

at 1 thread and at ``--threads`` threads, then the two ways two cores can
encode ``--images`` distinct tiles: one context with all threads, one tile
after another (what llama-server and oculi do), or one single-thread context
per core, side by side (``lanes``). From the parts it prints the compute floor
of ``concurrency × (encode + image eval + text eval) + max_tokens × step``,
the work any server must do for the concurrent distinct-image scenario,
and how much the lanes could save of it at most.

Usage::

    .venv/bin/python bench/llamacpp_profile.py --model /tmp/bench-gguf/internvl3-1b-random.gguf \\
        --mmproj /tmp/bench-gguf/internvl3-1b-random-mmproj.gguf
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llamacpp import photo  # bench/llamacpp.py: the same pixels as the HTTP benchmark (bench/ is the script's dir)

from oculi.engines.llamacpp.native import ImageChunk, Native
from oculi.engines.llamacpp.prompt import Bitmap


def tile(seed: int) -> Bitmap:
    """A 448×448 photo-like bitmap (one tile on mtmd's InternVL preprocessing)."""
    return Bitmap(f"tile-{seed}", 448, 448, photo(448, 448, seed).tobytes(), wrapped=True)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Parts:
    """The engine's native objects at one thread count, and the timed parts."""

    def __init__(self, model: Path, mmproj: Path, threads: int) -> None:
        self.native = Native(model, mmproj, n_ctx_seq=2048, n_seq=8, n_threads=threads, embed_cache_bytes=0)
        self.lists: list[Any] = []

    def chunk(self, seed: int) -> ImageChunk:
        units = self.native.bitmap_units(tile(seed), self.lists)
        return next(u for u in units if isinstance(u, ImageChunk))

    def encode(self, chunk: ImageChunk) -> None:
        if self.native._mt.mtmd_encode_chunk(self.native.mtmd, chunk.ptr) != 0:
            raise RuntimeError("encode failed")

    def image_eval(self, chunk: ImageChunk) -> None:
        """Evaluate the image's embeddings (taken from the encoder's output buffer) into sequence 0."""
        self.native.clear(0)
        mt = self.native._mt
        new_n_past = self.native._ll.llama_pos(0)
        embd = mt.mtmd_get_output_embd(self.native.mtmd)
        rc = mt.mtmd_helper_decode_image_chunk(
            self.native.mtmd, self.native.ctx, chunk.ptr, embd, 0, 0, self.native.n_batch,
            ctypes.byref(new_n_past), mt.mtmd_helper_post_decode_callback(), None,
        )  # fmt: skip
        if rc != 0:
            raise RuntimeError("image eval failed")

    def text_eval(self, n: int) -> None:
        self.native.clear(1)
        self.native.decode_tokens(1, [100 + i % 1000 for i in range(n)], 0, logits_last=True)

    def step(self, n_seq: int, length: int = 300) -> float:
        """Median of 8 decode steps of ``n_seq`` sequences at position ``length``."""
        for seq in range(n_seq):
            self.native.clear(seq)
            self.native.decode_tokens(seq, [100 + i % 1000 for i in range(length)], 0, logits_last=False)
        times = []
        for k in range(8):
            start = time.perf_counter()
            self.native.decode_step([(seq, 200 + seq, length + k) for seq in range(n_seq)])
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def close(self) -> None:
        self.native.free_chunks(self.lists)
        self.native.close()


def time_parts(parts: Parts, concurrency: int, text_tokens: int) -> dict[str, float]:
    """Median seconds of each part at ``parts``' thread count."""
    chunk = parts.chunk(1)
    parts.encode(chunk)  # warm-up: graph allocation
    return {
        "encode one tile": median_time(lambda: parts.encode(chunk), 3),
        f"image eval ({chunk.n_tokens} positions)": median_time(lambda: parts.image_eval(chunk), 3),
        f"text eval ({text_tokens} tokens)": median_time(lambda: parts.text_eval(text_tokens), 3),
        f"decode step ({concurrency} sequences)": parts.step(concurrency),
    }


def encode_serially(parts: Parts, seeds: list[int]) -> float:
    """Seconds to encode one tile per seed, one after another."""
    chunks = [parts.chunk(seed) for seed in seeds]
    start = time.perf_counter()
    for chunk in chunks:
        parts.encode(chunk)
    return time.perf_counter() - start


def encode_in_lanes(lanes: list[Parts], seeds: list[int]) -> float:
    """Seconds to encode one tile per seed, the seeds dealt round robin to lanes running side by side."""
    work = [[lane.chunk(seed) for seed in seeds[k :: len(lanes)]] for k, lane in enumerate(lanes)]

    def run(lane: Parts, chunks: list[ImageChunk]) -> None:
        for chunk in chunks:
            lane.encode(chunk)  # ctypes lets go of the GIL during the call

    workers = [threading.Thread(target=run, args=pair) for pair in zip(lanes, work, strict=True)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--mmproj", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=4, help="Distinct tiles for the serial-vs-lanes encode.")
    parser.add_argument("--rounds", type=int, default=2, help="Serial-vs-lanes rounds (alternating; best of each).")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--text-tokens", type=int, default=20, help="Prompt text around the image.")
    args = parser.parse_args()

    rows: dict[str, dict[int, float]] = {}
    for threads in sorted({1, args.threads}):
        parts = Parts(args.model, args.mmproj, threads)
        for name, seconds in time_parts(parts, args.concurrency, args.text_tokens).items():
            rows.setdefault(name, {})[threads] = seconds
        parts.close()
        print(f"[profile] {threads} thread(s) done", flush=True)

    # Two cores, N distinct tiles: one all-threads context in turn, or one 1-thread context per core at
    # once; all contexts loaded together and the two ways alternating, so host drift favours neither.
    serial = Parts(args.model, args.mmproj, args.threads)
    lanes = [Parts(args.model, args.mmproj, 1) for _ in range(args.threads)]
    serial_runs: list[float] = []
    lanes_runs: list[float] = []
    for round_ in range(args.rounds):
        seeds = [1000 * round_ + i for i in range(args.images)]  # no encoder output reused across rounds
        for way in ("serial", "lanes") if round_ % 2 == 0 else ("lanes", "serial"):
            if way == "serial":
                serial_runs.append(encode_serially(serial, seeds))
            else:
                lanes_runs.append(encode_in_lanes(lanes, seeds))
    serial_s, lanes_s = min(serial_runs), min(lanes_runs)
    for parts in [serial, *lanes]:
        parts.close()

    t = args.threads
    print(f"\nmodel: {args.model.name} + {args.mmproj.name}; CPU: {os.cpu_count()} cores\n")
    print(f"| part | 1 thread | {t} threads | scaling |\n|---|---|---|---|")
    for name, by in rows.items():
        print(f"| {name} | {by[1]:.3f} s | {by[t]:.3f} s | ×{by[1] / by[t]:.2f} |")
    encode, image, text, step = (by[t] for by in rows.values())
    per_request = encode + image + text
    floor = args.concurrency * per_request + args.max_tokens * step
    print(
        f"\nper request ({t} threads): encode {encode:.2f} s + image eval {image:.2f} s + text eval {text:.2f} s"
        f" = {per_request:.2f} s ({encode / per_request:.0%} encode)"
    )
    print(
        f"compute floor, {args.concurrency} concurrent distinct `low` requests, {args.max_tokens} tokens: "
        f"{args.concurrency} × {per_request:.2f} + {args.max_tokens} × {step:.3f} = {floor:.1f} s"
    )
    print(
        f"\n{args.images} tiles, best of {args.rounds} alternating rounds: one {t}-thread context in turn "
        f"{serial_s:.2f} s; "
        f"{len(lanes)} one-thread contexts side by side {lanes_s:.2f} s → ×{serial_s / lanes_s:.3f}"
    )
    gain = (args.concurrency * encode) * (1 - lanes_s / serial_s)
    print(
        f"best case with encoder lanes: the floor's encode share shrinks by {gain:.1f} s → "
        f"×{floor / (floor - gain):.3f} throughput (the rest already runs on all threads)"
    )


if __name__ == "__main__":
    main()

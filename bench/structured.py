"""What does a JSON schema cost: per-token speed with vs. without one, and grammar compile time.

1. Grammar compile time of a receipt-like schema: cold (llguidance compiles
   the schema and builds a matcher for the model's vocabulary) vs. cached
   (``oculi.structured`` finds both by the schema's hash; a request only
   copies the ready matcher). Target: cached < 1 ms.
2. transformers engine: seconds per output token of the same request with and
   without the schema (``HFEngine.generate``, greedy-free sampling with a seed,
   decode time only: from the first output token to the last). Target: ≤ 10 %
   slower with the schema.
3. llama.cpp (when the extra is installed): the same decode loop on the GGUF
   fixture, the schema enforced two ways — oculi's llguidance mask on the
   logits row vs. llama.cpp's own GBNF grammar sampler (the schema converted
   by llama-cpp-python's ``json_schema_to_gbnf``) — and with no schema.

The ratio is the answer; absolute numbers depend on the machine (run it on a
quiet one: on a shared 2-core machine they are noisy).

    .venv/bin/python bench/structured.py [--checkpoint tiny-internvl|internvl3-1b-random] [--tokens 48] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from oculi.domain import (
    Conversation,
    Detail,
    FormatKind,
    GenerationParams,
    ImagePart,
    Message,
    OutputSpec,
    ResponseFormat,
    Role,
    TextPart,
)
from oculi.engines.base import EngineRequest
from oculi.structured import grammar as grammars
from oculi.structured import plan
from oculi.structured.matcher import Constraints

SCHEMA = {
    "type": "object",
    "properties": {
        "merchant": {"type": "string", "maxLength": 40},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
                "additionalProperties": False,
            },
        },
        "total": {"type": "number"},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
    },
    "required": ["merchant", "date", "items", "total", "currency"],
    "additionalProperties": False,
}
SPEC = OutputSpec(response_format=ResponseFormat(FormatKind.JSON_SCHEMA, "receipt", SCHEMA, True))
GGUF = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gguf"


def compile_times(constraints: Constraints, reps: int) -> tuple[float, float]:
    """Median milliseconds of plan + matcher: cold (caches emptied) and cached."""
    cold, warm = [], []
    for _ in range(reps):
        grammars._compile.cache_clear()
        constraints._cache.clear()
        started = time.perf_counter()
        constraints.start(plan(SPEC).grammar)  # type: ignore[arg-type]
        cold.append(time.perf_counter() - started)
        for _ in range(20):
            started = time.perf_counter()
            constraints.start(plan(SPEC).grammar)  # type: ignore[arg-type]
            warm.append(time.perf_counter() - started)
    return statistics.median(cold) * 1e3, statistics.median(warm) * 1e3


async def seconds_per_token(engine, output: OutputSpec, tokens: int, seed: int) -> tuple[float, int]:
    """Decode seconds per token of one request (first output token to the last) and its token count."""
    rng = np.random.RandomState(seed)
    image = Image.fromarray((rng.rand(448, 448, 3) * 255).astype("uint8"))
    from oculi.intake.tiling import plan_tiles, render_views
    from oculi.intake.types import PreparedImage

    spec = engine.pixel_spec
    tiles = plan_tiles(448, 448, Detail.LOW, max_tiles=spec.max_tiles)
    prepared = PreparedImage(0, f"{seed:064x}", b"", "image/png", 448, 448, tiles, render_views(image, tiles, spec))
    conversation = Conversation([Message(Role.USER, [ImagePart("data:", Detail.LOW), TextPart("Read the receipt.")])])
    params = GenerationParams(max_tokens=tokens, temperature=1.0, seed=seed)
    request = EngineRequest(f"b{seed}", conversation, [prepared], params, plan(output))
    first = last = 0.0
    count = 0
    async for delta in engine.generate(request):
        if delta.text and not first:
            first = time.perf_counter()
        last = time.perf_counter()
        if delta.usage is not None:
            count = delta.usage.completion_tokens
    return (last - first) / max(1, count - 1), count


def bench_hf(checkpoint: str, tokens: int, reps: int) -> None:
    from oculi.engines import hf
    from oculi.settings import Settings
    from oculi.testing.checkpoints import cached_checkpoint

    path = cached_checkpoint(checkpoint)
    engine = hf.load(str(path), Settings(max_batch_size=1, offline=True))
    cold, warm = compile_times(engine.constraints, reps)
    print(
        f"grammar compile ({checkpoint}, vocab {engine.constraints.vocab_size}): cold {cold:.2f} ms, "
        f"cached {warm * 1e3:.1f} µs  (target cached < 1 ms: {'ok' if warm < 1 else 'MISSED'})"
    )
    asyncio.run(seconds_per_token(engine, OutputSpec(), 4, 0))  # warm-up
    free, constrained = [], []
    for rep in range(reps):
        free.append(asyncio.run(seconds_per_token(engine, OutputSpec(), tokens, rep))[0])
        constrained.append(asyncio.run(seconds_per_token(engine, SPEC, tokens, rep))[0])
    a, b = statistics.median(free), statistics.median(constrained)
    print(
        f"transformers decode: {a * 1e3:.2f} ms/token free, {b * 1e3:.2f} ms/token with the schema "
        f"→ {b / a:.3f}× (target ≤ 1.10×)"
    )
    engine.scheduler.close()


def bench_llamacpp(tokens: int, reps: int) -> None:
    from oculi.engines.llamacpp.engine import is_available

    if not is_available():
        print("llama.cpp: extra not installed, skipped")
        return
    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from oculi.engines.llamacpp.native import Native

    native = Native(
        GGUF / "tiny-internvl.gguf",
        GGUF / "tiny-internvl-mmproj.gguf",
        n_ctx_seq=1024,
        n_seq=1,
        n_threads=2,
        embed_cache_bytes=0,
    )
    constraints = Constraints.for_llamacpp(native.vocab)
    grammar = plan(SPEC).grammar
    assert grammar is not None
    gbnf = json_schema_to_gbnf(json.dumps(SCHEMA))
    prompt = native.tokenize("<|im_start|>user\nRead the receipt.<|im_end|>\n<|im_start|>assistant\n", True, True)

    def run(mode: str, seed: int) -> float:
        native.clear(0)
        n_past = native.decode_tokens(0, prompt, 0, logits_last=True)
        sampler = native.sampler(GenerationParams(temperature=1.0, seed=seed), 0)
        if mode == "gbnf":
            chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
            llama_cpp.llama_sampler_chain_add(
                chain, llama_cpp.llama_sampler_init_grammar(native.vocab, gbnf.encode(), b"root")
            )
            llama_cpp.llama_sampler_chain_add(chain, sampler)
            sampler = chain
        constraint = constraints.start(grammar) if mode == "mask" else None
        started, count = time.perf_counter(), 0
        row = -1
        for _ in range(tokens):
            if constraint is not None:
                constraint.mask(native.logits(row))
            token = native.sample(sampler, row)
            count += 1
            if constraint is not None and (not constraint.advance(token) or constraint.done):
                break
            if native.is_eog(token):
                break
            native.decode_step([(0, token, n_past)])
            n_past, row = n_past + 1, 0
        elapsed = time.perf_counter() - started
        native.free_sampler(sampler)
        return elapsed / count

    modes = ("free", "mask", "gbnf")
    for mode in modes:  # warm-up
        run(mode, 99)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for rep in range(reps):  # interleaved, so machine noise hits every mode alike
        for mode in modes:
            times[mode].append(run(mode, rep))
    results = {m: statistics.median(t) for m, t in times.items()}
    free = results["free"]
    print(
        f"llama.cpp decode (tiny GGUF): free {free * 1e3:.3f} ms/token, llguidance mask "
        f"{results['mask'] * 1e3:.3f} ms/token ({results['mask'] / free:.2f}×), GBNF grammar sampler "
        f"{results['gbnf'] * 1e3:.3f} ms/token ({results['gbnf'] / free:.2f}×)"
    )
    native.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="tiny-internvl", choices=["tiny-internvl", "internvl3-1b-random"])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    bench_hf(args.checkpoint, args.tokens, args.reps)
    bench_llamacpp(args.tokens, args.reps)


if __name__ == "__main__":
    main()

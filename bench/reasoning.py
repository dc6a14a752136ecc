"""What does the reasoning split cost per token, and does a budget end the thinking where it says?

1. Per-token overhead of the split, parser on vs off, on the transformers and
   llama.cpp engines (the tiny thinking checkpoint and its GGUF: the fastest
   decode step there is, so the worst ratio). "On" is what a thinking request
   does: the engine follows every token with a ``ThinkTracker`` (reasoning
   count, budget, grammar hold) and the pipeline's ``ReasoningCollector``
   splits every delta's text; "off" (``--reasoning-parser none``) does
   neither. Both decode the same tokens (same seed, same prompt). Reported:
   decode seconds per token (first output token to last, median of
   interleaved runs), the ratio of medians and the median ratio of the
   back-to-back pairs; the same in process CPU time (all threads: less
   moved by other processes than wall time); and, as the steadiest figure on a noisy
   machine, the split's own CPU time per token (tracker + collector on the
   recorded token ids and deltas) over the decode step. Target: ≤ 2 %.
2. Budget accuracy: reasoning tokens (the think block, end tag included)
   against budgets of 4 … 64 tokens, with ``max_tokens`` well above the
   budget, and how the thinking ended: at the budget (the engine wrote the
   end tag, the answer followed) or earlier by the model itself (its own end
   tag, or end of sequence while thinking).

    PYTHONPATH=src .venv/bin/python bench/reasoning.py [--tokens 64] [--reps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

from oculi.domain import Conversation, GenerationParams, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.reasoning import ReasoningCollector, ThinkingPlan, ThinkTracker

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "gguf"
QUESTION = Conversation([Message(Role.USER, [TextPart("Describe what a good photograph of a harbour shows.")])])
BUDGETS = (4, 8, 16, 32, 64)


async def decode(engine: Any, thinking: ThinkingPlan | None, tokens: int, seed: int) -> dict[str, Any]:
    """One generation through the engine and (when thinking) the pipeline's split; decode time per token."""
    fmt = engine.info.reasoning if thinking is not None else None
    split = ReasoningCollector(fmt, inside=thinking is not None and thinking.starts_inside(fmt))
    params = GenerationParams(max_tokens=tokens, temperature=1.0, seed=seed)
    first = last = cpu_first = cpu_last = None
    deltas, usage = [], None
    async for raw in engine.generate(EngineRequest("bench", QUESTION, [], params, thinking=thinking)):
        deltas.append(dataclasses.replace(raw))  # the split rewrites its delta in place: keep the engine's
        delta = split.delta(raw)
        if delta.text or delta.reasoning:
            now, cpu = time.perf_counter(), time.process_time()
            first = first if first is not None else now
            cpu_first = cpu_first if cpu_first is not None else cpu
            last, cpu_last = now, cpu
        usage = delta.usage or usage
    assert usage is not None
    timed = first is not None and last is not None and usage.completion_tokens > 8
    return {
        # None when the model ended at once (nothing to time)
        "per_token": (last - first) / (usage.completion_tokens - 1) if timed else None,  # type: ignore[operator]
        "cpu_per_token": (cpu_last - cpu_first) / (usage.completion_tokens - 1) if timed else None,  # type: ignore[operator]
        "usage": usage,
        "reasoning": split.reasoning(0),
        "deltas": deltas,
    }


def split_cost(engine: Any, deltas: list[Any], token_ids: list[int]) -> float:
    """CPU seconds the split spends on one recorded generation (tracker on its tokens, collector on its deltas)."""
    thinking = engine.thinking
    reps = 200
    start = time.perf_counter()
    for _ in range(reps):
        tracker = ThinkTracker(thinking.tokens, inside=True)
        for token in token_ids:
            tracker.forced()
            tracker.advance(token)
        collector = ReasoningCollector(thinking.fmt, inside=True)
        for delta in deltas:
            collector.delta(dataclasses.replace(delta))  # what the engine would hand over
    elapsed = time.perf_counter() - start
    begin = time.perf_counter()  # the copies above are the bench's, not the split's: take them out
    for _ in range(reps):
        for delta in deltas:
            dataclasses.replace(delta)
    return (elapsed - (time.perf_counter() - begin)) / reps


def overhead(name: str, engine: Any, tokens: int, reps: int) -> None:
    """Section 1 for one engine."""
    asyncio.run(decode(engine, None, 8, 0))  # warm up
    on, off, cpu_on, cpu_off = [], [], [], []
    recorded: dict[str, Any] = {}
    for rep in range(reps):
        pair = {}
        for mode in ("off", "on") if rep % 2 else ("on", "off"):
            pair[mode] = asyncio.run(decode(engine, ThinkingPlan() if mode == "on" else None, tokens, seed=rep))
        if pair["on"]["per_token"] is None or pair["off"]["per_token"] is None:
            continue
        on.append(pair["on"]["per_token"])
        off.append(pair["off"]["per_token"])
        cpu_on.append(pair["on"]["cpu_per_token"])
        cpu_off.append(pair["off"]["cpu_per_token"])
        recorded = pair["on"]
    t_on, t_off = statistics.median(on), statistics.median(off)
    pairs = statistics.median(a / b for a, b in zip(on, off, strict=True))  # each pair ran back to back
    ids = engine_tokens(engine, recorded["reasoning"])
    per_token_split = split_cost(engine, recorded["deltas"], ids) / max(1, len(ids))
    print(f"\n== {name}: {tokens} tokens, {reps} interleaved runs each ==")
    print(f"decode per token, parser off: {t_off * 1e3:8.3f} ms")
    print(f"decode per token, parser on:  {t_on * 1e3:8.3f} ms   ratio on/off {t_on / t_off:.3f}")
    print(f"median ratio of back-to-back pairs:     {pairs:.3f}")
    c_on, c_off = statistics.median(cpu_on), statistics.median(cpu_off)
    print(f"process CPU per token, off / on: {c_off * 1e3:.3f} / {c_on * 1e3:.3f} ms   ratio {c_on / c_off:.3f}")
    print(
        f"split's own CPU per token:    {per_token_split * 1e6:8.2f} µs   "
        f"= {100 * per_token_split / t_off:.2f} % of a decode step (target ≤ 2 %)"
    )


def engine_tokens(engine: Any, text: str) -> list[int]:
    return [t.id for t in engine.tokenize(text)]


def budgets(name: str, engine: Any) -> None:
    """Section 2 for one engine."""
    print(f"\n== {name}: budget accuracy (reasoning tokens vs budget) ==")
    print(" budget  reasoning  answer  ended")
    for budget in BUDGETS:
        for seed in (1, 2, 3):
            result = asyncio.run(decode(engine, ThinkingPlan(budget=budget), budget + 24, seed=seed))
            usage = result["usage"]
            answer = usage.completion_tokens - usage.reasoning_tokens
            if usage.reasoning_tokens > budget:
                ended = "OVER BUDGET"
            elif usage.reasoning_tokens == budget and answer:
                ended = "at the budget"
            else:
                ended = "by the model, before the budget"
            print(f" {budget:6d}  {usage.reasoning_tokens:9d}  {answer:6d}  {ended}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the engines (default: all)")
    args = parser.parse_args()

    from oculi.engines import hf
    from oculi.settings import Settings
    from oculi.testing.checkpoints import cached_checkpoint

    settings = Settings(max_batch_size=1, offline=True, threads=args.threads)
    engine = hf.load(str(cached_checkpoint("tiny-internvl-thinking")), settings)
    overhead("transformers (tiny thinking InternVL)", engine, args.tokens, args.reps)
    budgets("transformers", engine)
    engine.scheduler.close()

    from oculi.engines.llamacpp.engine import is_available

    if not is_available():
        print("\nllama.cpp: not installed (scripts/build_llamacpp.sh); skipped")
        return
    from oculi.engines import llamacpp

    gguf = llamacpp.load(
        str(FIXTURES / "tiny-internvl-thinking.gguf"),
        str(FIXTURES / "tiny-internvl-mmproj.gguf"),
        settings,
    )
    overhead("llama.cpp (tiny thinking InternVL GGUF)", gguf, args.tokens, args.reps)
    budgets("llama.cpp", gguf)
    asyncio.run(gguf.close())


if __name__ == "__main__":
    main()

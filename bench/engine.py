"""Is oculi's transformers engine as fast as plain transformers, and does batching pay? Per model family.

``--family internvl`` (default): a random-weight checkpoint at the real size
of InternVL3-1B (``build_internvl3_1b_random``, cached). ``--family
qwen2_5_vl | qwen3_vl | qwen3_5 | glm4v | gemma3 | gemma4``: a random-weight checkpoint of that
architecture with a small text model (8 layers, width 512) and vision tower
(4 layers, width 256) — real geometry (patches, merges, view size), sizes a
2-core machine runs in minutes (built once under ``.cache/``).

1. Latency of one request (1 image, ``low`` and ``high``, 32 output tokens):
   oculi = intake (``Intake.prepare`` from a data URL: decode, SPEC §3 views)
   + ``HFEngine.generate``; reference = plain transformers on the same
   inputs: InternVL — the checkpoint's processor on the image
   (``crop_to_patches``, the same SPEC grid); other families — the same
   views rendered with Pillow (the exact path) as pictures, the family's own
   processor on them, then ``model.generate`` greedy. Both use the same loaded
   model, in adjacent pairs alternating which goes first.
2. Throughput (output tokens/s) at concurrency 1, 4 and 8 (``low`` images,
   32 tokens each, every request its own image so no cache helps).
3. Intake time per view at the family's view size (``high``, 3×2 grid + thumbnail).

Prints a table and the ratios against the targets (latency ≤ 1.05× the
reference; throughput at concurrency 4 ≥ 1.5× concurrency 1).

    .venv/bin/python bench/engine.py [--family qwen3_vl] [--reps 2] [--dtype bfloat16] [--concurrency 1 4 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines import hf
from oculi.engines.base import EngineRequest
from oculi.engines.common.checkpoint import load_processor
from oculi.families import Grouping
from oculi.intake.pipeline import Intake
from oculi.intake.tiling import plan_tiles, render_grid, render_views
from oculi.intake.types import ViewLayout
from oculi.settings import Settings
from oculi.testing.checkpoints import cached_checkpoint, default_cache_root
from oculi.testing.family_checkpoints import (
    build_tiny_gemma3,
    build_tiny_qwen2_5_vl,
    build_tiny_qwen3_5,
    build_tiny_qwen3_vl,
)
from oculi.testing.gemma4 import build_tiny_gemma4
from oculi.testing.glm import build_tiny_glm4v

QUESTION = "Describe this image in detail."
TOKENS = 32
SIZES = {Detail.LOW: (640, 480), Detail.HIGH: (896, 448)}  # high: 2×1 grid + thumbnail = 3 views


def make_image(seed: int, size: tuple[int, int]) -> Image.Image:
    """A photo-like (smooth + noise) random image, distinct per seed."""
    rng = np.random.RandomState(seed)
    w, h = size
    base = rng.rand(h // 16 + 1, w // 16 + 1, 3)
    img = Image.fromarray((base * 255).astype("uint8")).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.randint(-12, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img).astype(int) + noise, 0, 255).astype("uint8"))


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


async def oculi_request(engine: hf.HFEngine, intake: Intake, image: Image.Image, detail: Detail) -> tuple[float, int]:
    """Seconds and output tokens of one request through intake + the engine."""
    started = time.perf_counter()
    part = ImagePart(data_url(image), detail)
    prepared = await intake.prepare([part], engine.pixel_spec)
    conversation = Conversation([Message(Role.USER, [part, TextPart(QUESTION)])])
    request = EngineRequest("bench", conversation, prepared, GenerationParams(max_tokens=TOKENS, temperature=0))
    tokens = 0
    async for delta in engine.generate(request):
        if delta.usage is not None:
            tokens = delta.usage.completion_tokens
    return time.perf_counter() - started, tokens


def reference_request(engine: hf.HFEngine, processor, image: Image.Image, detail: Detail) -> tuple[float, int]:
    """Seconds and output tokens of the plain transformers path on the same model."""
    started = time.perf_counter()
    # The reference gets the same JPEG bytes and decodes them itself.
    raw = base64.b64decode(data_url(image).split(",", 1)[1])
    pil = Image.open(io.BytesIO(raw)).convert("RGB")
    if engine.family is None or engine.family.grouping is Grouping.STACK:  # InternVL: its processor tiles
        messages = [{"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": QUESTION}]}]
        inputs = processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs={"crop_to_patches": detail is Detail.HIGH, "max_patches": 6},
        )
    else:  # the same views as pictures (Pillow's resize), the family's processor on them
        spec = replace(engine.pixel_spec, normalise=False)
        plan = plan_tiles(pil.width, pil.height, detail)
        grid = spec.layout is ViewLayout.GRID
        pictures = [Image.fromarray(a) for a in (render_grid if grid else render_views)(pil, plan, spec)]
        content = [{"type": "image"} for _ in pictures] + [{"type": "text", "text": QUESTION}]
        switch = engine.thinking.switch(None) if engine.thinking is not None else {}  # oculi's default: the same
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False, **switch
        )
        inputs = processor(text=[text], images=pictures, return_tensors="pt", add_special_tokens=False)
    inputs["pixel_values"] = inputs["pixel_values"].to(engine.model.dtype)
    with torch.inference_mode():
        out = engine.model.generate(**inputs, max_new_tokens=TOKENS, min_new_tokens=TOKENS, do_sample=False)
    return time.perf_counter() - started, int(out.shape[1] - inputs["input_ids"].shape[1])


async def throughput(engine: hf.HFEngine, intake: Intake, concurrency: int, seed: int) -> float:
    """Output tokens per second with ``concurrency`` requests in flight (one wave, all distinct images)."""
    images = [make_image(seed + i, SIZES[Detail.LOW]) for i in range(concurrency)]
    started = time.perf_counter()
    results = await asyncio.gather(*(oculi_request(engine, intake, img, Detail.LOW) for img in images))
    return sum(t for _, t in results) / (time.perf_counter() - started)


#: Small text model and vision tower for the other families (head size 64; mrope sections sum to 32).
_SMALL_TEXT = {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8}
_SMALL_TEXT |= {"num_attention_heads": 8, "num_key_value_heads": 2}
_SMALL = {
    "qwen2_5_vl": (
        build_tiny_qwen2_5_vl,
        {**_SMALL_TEXT, "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]}},
        {"depth": 4, "hidden_size": 256, "intermediate_size": 1024, "num_heads": 4, "fullatt_block_indexes": [3]},
    ),
    "qwen3_vl": (
        build_tiny_qwen3_vl,
        {
            **_SMALL_TEXT,
            "head_dim": 64,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5e6,
                "mrope_section": [8, 12, 12],
                "mrope_interleaved": True,
            },
        },
        {"depth": 4, "hidden_size": 256, "intermediate_size": 1024, "num_heads": 4, "deepstack_visual_indexes": [1]},
    ),
    "qwen3_5": (
        build_tiny_qwen3_5,
        {
            **_SMALL_TEXT,
            "head_dim": 64,
            "layer_types": ["linear_attention"] * 3
            + ["full_attention"]
            + ["linear_attention"] * 3
            + ["full_attention"],
            "linear_num_key_heads": 4,
            "linear_num_value_heads": 8,
            "rope_parameters": {  # a quarter of the head rotates: 16 dims, sections sum to 8
                "rope_type": "default",
                "rope_theta": 1e7,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
                "partial_rotary_factor": 0.25,
            },
        },
        {"depth": 4, "hidden_size": 256, "intermediate_size": 1024, "num_heads": 4},
    ),
    "glm4v": (
        build_tiny_glm4v,
        {  # half the head rotates: 32 dims, sections sum to 16
            **_SMALL_TEXT,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e4,
                "mrope_section": [4, 6, 6],
                "partial_rotary_factor": 0.5,
            },
        },
        {"depth": 4, "hidden_size": 256, "intermediate_size": 1024, "num_heads": 4},
    ),
    "gemma3": (
        build_tiny_gemma3,
        {
            **_SMALL_TEXT,
            "head_dim": 64,
            "query_pre_attn_scalar": 64,
            "sliding_window": 512,
            "layer_types": ["sliding_attention"] * 5 + ["full_attention"] + ["sliding_attention"] * 2,  # 5:1
        },
        {"num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4},
    ),
    "gemma4": (
        build_tiny_gemma4,
        {  # 5 sliding : 1 full, the full layers with their own head size, per-layer input embeddings
            **_SMALL_TEXT,
            "head_dim": 64,
            "global_head_dim": 128,
            "hidden_size_per_layer_input": 64,
            "sliding_window": 512,
            "layer_types": ["sliding_attention"] * 5 + ["full_attention"] + ["sliding_attention"] + ["full_attention"],
        },
        {
            "num_hidden_layers": 4,
            "hidden_size": 256,
            "intermediate_size": 1024,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "head_dim": 64,
        },
    ),
}


def checkpoint(family: str) -> Path:
    """The benchmark checkpoint of ``family`` (built once under the checkpoint cache)."""
    if family == "internvl":
        return cached_checkpoint("internvl3-1b-random")
    build, text, vision = _SMALL[family]
    path = default_cache_root() / f"bench-{family}-small"
    if not (path / "config.json").is_file():
        build(path, text_sizes=text, vision_sizes=vision)
    return path


async def intake_per_view(settings: Settings, engine: hf.HFEngine, reps: int) -> float:
    """Milliseconds of intake (data URL → views at the family's view size) per view, ``high`` 3×2 + thumbnail."""
    intake = Intake(settings.model_copy(update={"image_cache_bytes": 0}))
    times = []
    for rep in range(reps + 1):
        part = ImagePart(data_url(make_image(5000 + rep, (1200, 800))), Detail.HIGH)
        started = time.perf_counter()
        (prepared,) = await intake.prepare([part], engine.pixel_spec)
        if rep:  # the first warms the pool
            times.append((time.perf_counter() - started) / prepared.plan.views)
    await intake.aclose()
    return statistics.median(times) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="internvl", choices=["internvl", *_SMALL])
    parser.add_argument("--reps", type=int, default=2, help="latency repetitions per path and detail")
    parser.add_argument("--dtype", default="bfloat16", help="weights dtype for both paths")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()

    path = checkpoint(args.family)
    settings = Settings(dtype=args.dtype, max_batch_size=max(args.concurrency), offline=True)
    engine = hf.load(str(path), settings)
    engine.scheduler.eos_token_ids = set()  # random weights: always produce the full 32 tokens, like min_new_tokens
    processor = load_processor(path)
    intake = Intake(settings)
    info = engine.info
    print(
        f"model: {info.architecture}, {info.parameters / 1e6:.0f}M parameters, {info.dtype}, {info.device}, "
        f"{torch.get_num_threads()} threads, views of {engine.pixel_spec.view_size} px"
    )
    per_view = await intake_per_view(settings, engine, args.reps + 2)
    print(f"intake: {per_view:.1f} ms per {engine.pixel_spec.view_size}-px view (1200×800 JPEG, high, 7 views)")

    # Warm-up once (allocator, oneDNN kernels): both paths share the model, so one warms both.
    await oculi_request(engine, intake, make_image(999, SIZES[Detail.LOW]), Detail.LOW)

    # Reference and oculi run in adjacent pairs, alternating which goes first, so a
    # shared machine's changing load hits both alike; the ratio is the median of the pairs'.
    rows = []
    seed = 0
    for detail in (Detail.LOW, Detail.HIGH):
        ours, ref, ratios = [], [], []
        for rep in range(args.reps):
            seed += 2
            pair = {}
            for path in ("ref", "oculi") if rep % 2 == 0 else ("oculi", "ref"):
                image = make_image(seed + (path == "oculi"), SIZES[detail])
                if path == "ref":
                    pair[path], n = reference_request(engine, processor, image, detail)
                else:
                    pair[path], n = await oculi_request(engine, intake, image, detail)
                assert n == TOKENS, (path, n)
            ref.append(pair["ref"])
            ours.append(pair["oculi"])
            ratios.append(pair["oculi"] / pair["ref"])
        rows.append((detail.value, statistics.median(ref), statistics.median(ours), statistics.median(ratios)))

    print(f"\nlatency, 1 request, 1 image, {TOKENS} output tokens (median of {args.reps} adjacent pairs)")
    print(f"{'detail':<8}{'reference s':>13}{'oculi s':>10}{'oculi/ref':>11}  target ≤ 1.05")
    for detail, ref_s, ours_s, ratio in rows:
        verdict = "ok" if ratio <= 1.05 else "MISS"
        print(f"{detail:<8}{ref_s:>13.2f}{ours_s:>10.2f}{ratio:>11.3f}  {verdict}")

    print(f"\nthroughput, low-detail requests of {TOKENS} tokens, one wave of c concurrent requests")
    print(f"{'concurrency':<13}{'tokens/s':>10}{'× c1':>8}")
    base = None
    for c in args.concurrency:
        seed += 100
        tps = await throughput(engine, intake, c, seed)
        base = base or tps
        print(f"{c:<13}{tps:>10.2f}{tps / base:>8.2f}" + ("  target ≥ 1.5" if c == 4 else ""))
    await intake.aclose()
    await engine.close()


if __name__ == "__main__":
    asyncio.run(main())

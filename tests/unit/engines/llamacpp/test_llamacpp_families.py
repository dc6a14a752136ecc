"""The view families on the llama.cpp engine: SPEC §3 exact, and equal to llama.cpp's own path.

Qwen2.5-VL, Qwen3-VL, Qwen3.5 (hybrid text model), GLM-4.1V, GLM-4.5V (its mixture-of-experts
text model), Gemma 3 and Gemma 4
(its mmproj names the projector per modality: ``clip.vision.projector_type``).

Tiny random GGUF fixtures (``scripts/make_gguf_fixtures.py``: the tiny
checkpoints of ``oculi.testing.family_checkpoints`` through llama.cpp's own
converter). Checked per family:

- the projector is recognised and measured exact (``projector.exact``);
- image tokens equal the SPEC oracle, and image *and* text tokens equal the
  transformers engine's on the same request (same wrappers, same template);
- greedy answers equal llama.cpp's reference path: ``mtmd_tokenize`` +
  ``mtmd_helper_eval_chunks`` on the same bitmaps in a fresh context, then a
  greedy loop — so oculi's worker continues Qwen's multimodal rotary
  positions (an image advances ``n_pos``, not ``n_tokens``) and Gemma 3's
  non-causal image attention as llama.cpp does;
- answers from reused or copied KV (a continued conversation, concurrent
  questions about one image) equal answers computed from scratch — Qwen's
  positions survive a trim, Gemma 3's sliding-window layers keep what they need;
- a sliding-window cache is window-sized (as llama-server's) and a prefix is
  reused only where its window is still held;
- the context limit counts KV cells (image tokens), not positions.
"""

from __future__ import annotations

import asyncio
import ctypes

import numpy as np
import pytest
from gguf_fixtures import FIXTURES, LLAMACPP, load_gguf
from PIL import Image
from spec_oracle import expected_image_tokens as spec_tokens

from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.errors import ContextLengthExceeded
from oculi.settings import Settings

pytestmark = LLAMACPP
#: GGUF fixture → (the family its projector names, view size). Qwen3.5's mmproj is Qwen3-VL's projector
#: (llama.cpp converts its vision tower so): the same views; its text model is the hybrid one.
FAMILIES = {
    "tiny-qwen2_5_vl": ("qwen2_5_vl", 448),
    "tiny-qwen3_vl": ("qwen3_vl", 512),
    "tiny-qwen3_5": ("qwen3_vl", 512),
    "tiny-glm4v": ("glm4v", 448),
    "tiny-glm4v_moe": ("glm4v", 448),
    "tiny-gemma3": ("gemma3", 896),
    "tiny-gemma4": ("gemma4", 768),
}
SLOTS = 4
QUESTION = "What is in this image? Describe it."


def _load(name: str, **extra):
    settings = Settings(**{"max_batch_size": SLOTS, "llamacpp_context": 8192, "threads": 1, "offline": True, **extra})
    return load_gguf(name, settings)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def gguf_family(request):
    """Each family's GGUF fixture on the llama.cpp engine (name, engine)."""
    engine = _load(request.param)
    yield request.param, engine
    engine.worker.close()


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


def _request(engine, prepare_image, cases, text=QUESTION, **params) -> EngineRequest:
    """A one-turn request of images ``cases`` = [((width, height), detail, seed), ...] and ``text``."""
    spec = engine.pixel_spec
    images = [prepare_image(_image(*size, seed=seed), d, spec, index=i) for i, (size, d, seed) in enumerate(cases)]
    parts = [ImagePart("data:", d) for _, d, _ in cases] + [TextPart(text)]
    params.setdefault("temperature", 0)
    return EngineRequest("t", Conversation([Message(Role.USER, parts)]), images, GenerationParams(**params))


def test_projector_is_recognised_and_its_views_are_exact(gguf_family):
    name, engine = gguf_family
    family, view = FAMILIES[name]
    assert engine.inexact_reason is None
    assert engine.family is not None and engine.family.name == family
    assert engine.pixel_spec.tiles and engine.pixel_spec.view_size == view
    assert not engine.pixel_spec.normalise  # uint8 bitmaps: mtmd normalises them itself


@pytest.mark.parametrize(
    ("size", "detail"),
    [
        ((1, 1), Detail.HIGH),
        ((2000, 3), Detail.HIGH),
        ((3, 2000), Detail.AUTO),
        ((449, 448), Detail.AUTO),
        ((1920, 1080), Detail.HIGH),
        ((4000, 3000), Detail.LOW),
    ],
)
async def test_image_tokens_follow_spec(gguf_family, prepare_image, collect, size, detail):
    _, engine = gguf_family
    result = await collect(engine, _request(engine, prepare_image, [(size, detail, 1)], max_tokens=1))
    assert result.usage.prompt_image_tokens == spec_tokens(*size, detail)


@pytest.fixture(scope="module")
def hf_engine(gguf_family):
    """The transformers engine on the checkpoint the GGUF fixture was converted from."""
    from oculi.engines import hf
    from oculi.testing.checkpoints import cached_checkpoint

    engine = hf.load(str(cached_checkpoint(gguf_family[0])), Settings(max_batch_size=2, offline=True))
    yield engine
    engine.scheduler.close()


async def test_image_and_text_tokens_equal_the_transformers_engine(gguf_family, hf_engine, prepare_image, collect):
    _, engine = gguf_family
    cases = [((900, 450), Detail.HIGH, 1), ((200, 200), Detail.AUTO, 2), ((640, 480), Detail.LOW, 3)]
    ours = (await collect(engine, _request(engine, prepare_image, cases, max_tokens=1))).usage
    theirs = (await collect(hf_engine, _request(hf_engine, prepare_image, cases, max_tokens=1))).usage
    assert ours.prompt_image_tokens == theirs.prompt_image_tokens == sum(spec_tokens(*s, d) for s, d, _ in cases)
    assert ours.prompt_text_tokens == theirs.prompt_text_tokens


def _mtmd_reference(name: str, text: str, bitmaps: list[np.ndarray], max_tokens: int) -> tuple[str, int]:
    """llama.cpp's own path: mtmd_tokenize + mtmd_helper_eval_chunks in a fresh context, then greedy tokens.

    Returns the answer and the image tokens of mtmd's chunks.
    """
    import llama_cpp as ll
    from llama_cpp import mtmd_cpp as mt

    from oculi.engines.llamacpp.prompt import MTMD_MARKER

    model = ll.llama_model_load_from_file(str(FIXTURES / f"{name}.gguf").encode(), ll.llama_model_default_params())
    cparams = ll.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch, cparams.n_threads, cparams.n_threads_batch = 8192, 2048, 512, 1, 1
    ctx = ll.llama_init_from_model(model, cparams)
    vparams = mt.mtmd_context_params_default()
    vparams.use_gpu, vparams.n_threads, vparams.warmup = False, 1, True
    vparams.media_marker = MTMD_MARKER.encode()
    mctx = mt.mtmd_init_from_file(str(FIXTURES / f"{name}-mmproj.gguf").encode(), model, vparams)
    vocab = ll.llama_model_get_vocab(model)
    arrays = [np.ascontiguousarray(a) for a in bitmaps]  # alive until mtmd has copied them
    pixels = ctypes.POINTER(ctypes.c_uint8)
    handles = [mt.mtmd_bitmap_init(a.shape[1], a.shape[0], a.ctypes.data_as(pixels)) for a in arrays]
    chunks = mt.mtmd_input_chunks_init()
    raw = text.encode()
    prompt = mt.mtmd_input_text(raw, len(raw), True, True)
    array = (mt.mtmd_bitmap_p_ctypes * len(handles))(*handles)
    sampler = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    ll.llama_sampler_chain_add(sampler, ll.llama_sampler_init_greedy())
    batch = ll.llama_batch_init(1, 0, 1)
    try:
        assert mt.mtmd_tokenize(mctx, chunks, ctypes.byref(prompt), array, len(handles)) == 0
        image_tokens = sum(
            mt.mtmd_input_chunk_get_n_tokens(mt.mtmd_input_chunks_get(chunks, i))
            for i in range(mt.mtmd_input_chunks_size(chunks))
            if mt.mtmd_input_chunk_get_type(mt.mtmd_input_chunks_get(chunks, i)) == mt.MTMD_INPUT_CHUNK_TYPE_IMAGE
        )
        n_past = ll.llama_pos(0)
        assert mt.mtmd_helper_eval_chunks(mctx, ctx, chunks, 0, 0, 2048, True, ctypes.byref(n_past)) == 0
        pos, out = int(n_past.value), b""
        for _ in range(max_tokens):
            token = ll.llama_sampler_sample(sampler, ctx, -1)
            if ll.llama_vocab_is_eog(vocab, token):
                break
            buf = ctypes.create_string_buffer(64)
            n = ll.llama_token_to_piece(vocab, token, buf, 64, 0, False)
            out += buf.raw[:n]
            batch.token[0], batch.pos[0], batch.n_seq_id[0], batch.seq_id[0][0], batch.logits[0] = token, pos, 1, 0, 1
            batch.n_tokens = 1
            assert ll.llama_decode(ctx, batch) == 0
            pos += 1
        return out.decode("utf-8", errors="replace"), int(image_tokens)
    finally:
        ll.llama_batch_free(batch)
        ll.llama_sampler_free(sampler)
        mt.mtmd_input_chunks_free(chunks)
        for handle in handles:
            mt.mtmd_bitmap_free(handle)
        mt.mtmd_free(mctx)
        ll.llama_free(ctx)
        ll.llama_model_free(model)


async def test_greedy_answer_equals_llama_cpp_reference_path(gguf_family, prepare_image, collect):
    name, engine = gguf_family
    cases = [((700, 500), Detail.HIGH, 5), ((300, 200), Detail.LOW, 6)]
    request = _request(engine, prepare_image, cases, max_tokens=16)
    ours = await collect(engine, request)
    text, bitmaps = engine.marked_prompt(request)
    answer, image_tokens = await asyncio.to_thread(_mtmd_reference, name, text, bitmaps, 16)
    assert ours.usage.prompt_image_tokens == image_tokens == sum(spec_tokens(*s, d) for s, d, _ in cases)
    assert ours.usage.completion_tokens >= 4, "too short an answer to compare"
    assert ours.text == answer


async def test_answers_from_reused_and_copied_kv_equal_answers_from_scratch(gguf_family, prepare_image, collect):
    name, engine = gguf_family
    image = prepare_image(_image(1000, 600, seed=11), Detail.HIGH, engine.pixel_spec)

    def request(*turns: str) -> EngineRequest:
        messages = [Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart(turns[0])])]
        for i, turn in enumerate(turns[1:]):
            role = Role.ASSISTANT if i % 2 == 0 else Role.USER
            messages.append(Message(role, [TextPart(turn)]))
        return EngineRequest("r", Conversation(messages), [image], GenerationParams(max_tokens=10, temperature=0))

    questions = ["Describe the image.", "Which colours?", "Any text in it?"]
    shared = await asyncio.gather(*(collect(engine, request(q)) for q in questions))  # copies of one KV stream
    follow_up = request(questions[0], shared[0].text, "And the shapes?")
    continued = await collect(engine, follow_up)  # its slot's KV trimmed back to the shared prefix
    tokens = spec_tokens(1000, 600, Detail.HIGH)
    if engine.worker.native.trimmable:
        assert sorted(r.usage.cached_prompt_tokens >= tokens for r in shared) == [False, True, True]
        assert continued.usage.cached_prompt_tokens >= tokens
    else:  # Qwen3.5's recurrent layers: no prefix of a state can be kept, every prompt is read whole
        assert [r.usage.cached_prompt_tokens for r in [*shared, continued]] == [0, 0, 0, 0]
    cases = [*zip([request(q) for q in questions], shared, strict=True), (follow_up, continued)]
    assert sum(r.usage.completion_tokens for _, r in cases) >= 8, "too little output to compare"
    for fresh_request, reused in cases:
        fresh_engine = _load(name)
        try:
            fresh = await collect(fresh_engine, fresh_request)
        finally:
            fresh_engine.worker.close()
        assert fresh.usage.cached_prompt_tokens == 0
        assert fresh.usage.prompt_image_tokens == reused.usage.prompt_image_tokens == tokens
        assert fresh.text == reused.text


@pytest.mark.parametrize("name", ["tiny-gemma3", "tiny-gemma4"])
async def test_a_sliding_window_cache_reuses_only_prefixes_whose_window_it_still_holds(name, prepare_image, collect):
    """Gemma's sliding-window layers keep a window per sequence (the fixtures' window: 32 positions, in a
    cache of the window plus a micro-batch, 768 cells), as llama-server's cache does: a later question about
    the same image shares the image with the slot's last request, but that request's long question has
    pushed the image's end out of the cache, so the prompt is read again — not continued from a stream that
    lacks it; a continued conversation, cut back near the slot's end, is reused."""
    engine = _load(name, max_batch_size=1)
    native = engine.worker.native
    assert native.swa == 32
    image = prepare_image(_image(1000, 600, seed=11), Detail.HIGH, engine.pixel_spec)

    def request(*turns: str) -> EngineRequest:
        messages = [Message(Role.USER, [ImagePart("data:", Detail.HIGH), TextPart(turns[0])])]
        messages += [
            Message(Role.ASSISTANT if i % 2 == 0 else Role.USER, [TextPart(t)]) for i, t in enumerate(turns[1:])
        ]
        return EngineRequest("w", Conversation(messages), [image], GenerationParams(max_tokens=10, temperature=0))

    try:
        first = await collect(engine, request("Describe the image. " + "Be precise about every detail. " * 120))
        assert first.usage.prompt_text_tokens > 800
        held_from = int(native._ll.llama_memory_seq_pos_min(native.mem, 0))
        assert held_from > spec_tokens(1000, 600, Detail.HIGH), "the image's end is out of the cache"
        other = await collect(engine, request("Which colours are there?"))
        follow_up = request("Which colours are there?", other.text, "And the shapes?")
        continued = await collect(engine, follow_up)
    finally:
        engine.worker.close()
    assert other.usage.cached_prompt_tokens == 0
    assert continued.usage.cached_prompt_tokens >= spec_tokens(1000, 600, Detail.HIGH)
    assert first.usage.completion_tokens + other.usage.completion_tokens >= 8, "too little output to compare"
    for reused, fresh_request in [(other, request("Which colours are there?")), (continued, follow_up)]:
        fresh_engine = _load(name)
        try:
            fresh = await collect(fresh_engine, fresh_request)
        finally:
            fresh_engine.worker.close()
        assert fresh.text == reused.text


async def test_concurrent_mixed_requests_are_exact_and_decoded_together(gguf_family, prepare_image, collect):
    _, engine = gguf_family
    cases = [
        [((1344, 896), Detail.HIGH, 20)],
        [((300, 300), Detail.AUTO, 21), ((2000, 500), Detail.HIGH, 22)],
        [((640, 480), Detail.LOW, 23)],
        [((500, 2000), Detail.AUTO, 24), ((10, 10), Detail.HIGH, 25)],
    ]
    requests = [_request(engine, prepare_image, c, max_tokens=12, temperature=1.0, seed=i) for i, c in enumerate(cases)]
    results = await asyncio.gather(*(collect(engine, r) for r in requests))
    for result, case in zip(results, cases, strict=True):
        assert result.usage.prompt_image_tokens == sum(spec_tokens(*s, d) for s, d, _ in case)
    assert engine.worker.peak_running >= 2


async def test_context_limit_counts_image_tokens_not_positions(gguf_family, prepare_image):
    name, _ = gguf_family
    small = _load(name, llamacpp_context=2048)
    try:
        # two 3×2 grids: 3584 image tokens (KV cells); on Qwen only ~130 rotary positions
        request = _request(small, prepare_image, [((1344, 896), Detail.HIGH, 30)] * 2, max_tokens=4)
        with pytest.raises(ContextLengthExceeded) as info:
            await small.generate(request).__anext__()
        assert "2048" in info.value.message
    finally:
        small.worker.close()


def test_a_projector_that_does_not_keep_the_views_is_measured_inexact():
    """LLaVA's CLIP resizes every image to 224 px: a Qwen grid image would not keep its tokens, so not exact."""
    from oculi import families
    from oculi.engines.llamacpp.projector import exact

    engine = _load("tiny-llava")
    try:
        assert engine.family is None and engine.inexact_reason is None  # not a SPEC §3 family: mtmd decides
        reason = exact(families.QWEN2_5_VL, engine.worker.native.image_chunks)
        assert reason == "mtmd makes a 448×896 image into image chunks of [256] tokens, not [512]"
    finally:
        engine.worker.close()

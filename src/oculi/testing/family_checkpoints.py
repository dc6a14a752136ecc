"""Tiny random-weight checkpoints of the Qwen2.5-VL, Qwen3-VL, Qwen3.5 and Gemma 3 families, built offline.

Like ``checkpoints.py`` for InternVL: the real architecture classes, the real
processor files (image processor geometry, mean/std, processor class), a
chat template shaped like the real one, and the family's special tokens in a
real trained BPE tokenizer — tiny widths so they build and run in seconds.
Text head size is 32 in all of them (vLLM's CPU attention takes 32–512), so
the same checkpoint serves on every engine.

The geometry that makes SPEC §3 exact (see ``oculi.families``):
- Qwen2.5-VL: 14 px patches merged 2×2 → a 448 px view is 256 tokens;
- Qwen3-VL and Qwen3.5: 16 px patches merged 2×2 → a 512 px view is 256 tokens;
- Gemma 3: SigLIP at 896 px, 14 px patches pooled to 256 tokens per image.

Facts that shaped these builders (``shared/notes/model-fixtures.md``): the
text rope's ``mrope_section`` sums to half the head size; Gemma 3's tokenizer
needs one to four newlines as tokens (vLLM's processor looks them up, as in
the real vocabulary) and
its vision weights are saved under the published ``vision_tower.vision_model.``
names, which both transformers and vLLM load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oculi.testing.vocab import CLIP_MEAN, CLIP_STD, ENDOFTEXT, IM_END, IM_START, save_tokenizer
from oculi.testing.weights import spread_weights

VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
QWEN_SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD]

# The Qwen2.5-VL / Qwen3-VL chat template's shape (ChatML, a default system turn for Qwen2.5-VL, one
# ``<|vision_start|><|image_pad|><|vision_end|>`` per image, which the processor expands).
_QWEN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' and DEFAULT_SYSTEM %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
QWEN2_5_VL_CHAT_TEMPLATE = "{% set DEFAULT_SYSTEM = true %}" + _QWEN_TEMPLATE
QWEN3_VL_CHAT_TEMPLATE = "{% set DEFAULT_SYSTEM = false %}" + _QWEN_TEMPLATE

THINK_START = "<think>"
THINK_END = "</think>"
# Qwen3.5 thinks by default: its generation prompt opens ``<think>``; ``enable_thinking=false`` writes an empty
# think block instead (as Qwen3's template does).
QWEN3_5_CHAT_TEMPLATE = QWEN3_VL_CHAT_TEMPLATE.replace(
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{% else %}{{ '<think>\\n' }}{% endif %}{% endif %}",
)

GEMMA_BOS = "<bos>"
GEMMA_EOS = "<eos>"
GEMMA_PAD = "<pad>"
START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
START_OF_IMAGE = "<start_of_image>"
END_OF_IMAGE = "<end_of_image>"
IMAGE_SOFT_TOKEN = "<image_soft_token>"
GEMMA_SPECIAL_TOKENS = [GEMMA_PAD, GEMMA_EOS, GEMMA_BOS, START_OF_TURN, END_OF_TURN, START_OF_IMAGE, END_OF_IMAGE]
GEMMA_SPECIAL_TOKENS.append(IMAGE_SOFT_TOKEN)

# Gemma 3's chat template's shape: the system prompt goes into the first user turn, the assistant is
# "model", an image is ``<start_of_image>`` (the processor expands it to the full image sequence).
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% if messages[0]['content'] is string %}{% set first = messages[0]['content'] + '\\n\\n' %}"
    "{% else %}{% set first = messages[0]['content'][0]['text'] + '\\n\\n' %}{% endif %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first if loop.first else '') }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<start_of_image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

#: Text model of every family fixture: width 64, 2 heads of 32 (vLLM's CPU attention needs ≥ 32), 1 KV head.
CONTEXT = 8192
_TEXT: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": CONTEXT,
    "rms_norm_eps": 1e-6,
}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def save_weights(model: Any, dest: Path, generation: dict[str, Any], spread: float = 0.5) -> None:
    """Spread the weights (so outputs depend on the input), save float32 weights and the generation config."""
    import torch
    from transformers import GenerationConfig

    spread_weights(model, spread)
    model = model.to(torch.float32).eval()
    model.save_pretrained(dest)
    GenerationConfig(**generation).save_pretrained(dest)


def with_sizes(
    text: dict[str, Any], vision: dict[str, Any], text_sizes: dict[str, Any] | None, vision_sizes: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configs with size overrides applied; Qwen's vision output width follows the text width."""
    text = {**text, **(text_sizes or {})}
    vision = {**vision, **(vision_sizes or {})}
    if "out_hidden_size" in vision:
        vision["out_hidden_size"] = text["hidden_size"]
    return text, vision


def _qwen_tokenizer(dest: Path, template: str, plain_tokens: tuple[str, ...] = ()) -> Any:
    return save_tokenizer(
        dest,
        QWEN_SPECIAL_TOKENS,
        template,
        CONTEXT,
        {"image_token": IMAGE_PAD, "video_token": VIDEO_PAD, "vision_bos_token": VISION_START},
        plain_tokens=plain_tokens,
    )


def _qwen_ids(tokenizer: Any) -> dict[str, Any]:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids(IMAGE_PAD),
        "video_token_id": ids(VIDEO_PAD),
        "vision_start_token_id": ids(VISION_START),
        "vision_end_token_id": ids(VISION_END),
    }


def _build_qwen(
    dest: Path,
    family: str,
    template: str,
    text_extra: dict[str, Any],
    vision: dict[str, Any],
    preprocessor: dict[str, Any],
    seed: int,
    text_sizes: dict[str, Any] | None,
    vision_sizes: dict[str, Any] | None,
    plain_tokens: tuple[str, ...] = (),
) -> Path:
    """A Qwen-family checkpoint (``Qwen2_5_VL``, ``Qwen3VL``, ``Qwen3_5``): tokenizer, config, weights, processor."""
    import torch
    import transformers

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _qwen_tokenizer(dest, template, plain_tokens)
    eos, pad = tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    text = dict(_TEXT, vocab_size=len(tokenizer), bos_token_id=pad, eos_token_id=eos, pad_token_id=pad, **text_extra)
    text, vision = with_sizes(text, vision, text_sizes, vision_sizes)
    config_class = getattr(transformers, f"{family}Config")
    config = config_class(text_config=text, vision_config=vision, tie_word_embeddings=True, **_qwen_ids(tokenizer))
    config.architectures = [f"{family}ForConditionalGeneration"]
    torch.manual_seed(seed)
    model = getattr(transformers, f"{family}ForConditionalGeneration")(config)
    save_weights(model, dest, {"eos_token_id": eos, "pad_token_id": pad})
    write_json(dest / "preprocessor_config.json", preprocessor)
    (dest / "chat_template.jinja").write_text(template)
    return dest


def build_tiny_qwen2_5_vl(
    dest: Path, *, text_sizes: dict[str, Any] | None = None, vision_sizes: dict[str, Any] | None = None
) -> Path:
    """A tiny random ``Qwen2_5_VLForConditionalGeneration``: 14 px patches merged 2×2 (448 px = 256 tokens).

    ``text_sizes`` / ``vision_sizes`` override the widths and depths (benchmarks build larger ones).
    """
    # mrope_section sums to half the head size (32 / 2 = 16): temporal, height, width frequencies.
    rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}
    vision = {
        "depth": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [0],
        "out_hidden_size": 64,
    }
    preprocessor = {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
    }
    return _build_qwen(
        dest, "Qwen2_5_VL", QWEN2_5_VL_CHAT_TEMPLATE, {"rope_parameters": rope}, vision, preprocessor, 2,
        text_sizes, vision_sizes,
    )  # fmt: skip


def build_tiny_qwen3_vl(
    dest: Path, *, text_sizes: dict[str, Any] | None = None, vision_sizes: dict[str, Any] | None = None
) -> Path:
    """A tiny random ``Qwen3VLForConditionalGeneration``: 16 px patches merged 2×2 (512 px = 256 tokens).

    ``text_sizes`` / ``vision_sizes`` override the widths and depths (benchmarks build larger ones).
    """
    rope = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [4, 6, 6], "mrope_interleaved": True}
    vision = {
        "depth": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 64,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [0],
    }
    preprocessor = {
        "size": {"longest_edge": 16777216, "shortest_edge": 65536},
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": "Qwen2VLImageProcessorFast",
        "processor_class": "Qwen3VLProcessor",
    }
    return _build_qwen(
        dest, "Qwen3VL", QWEN3_VL_CHAT_TEMPLATE, {"head_dim": 32, "rope_parameters": rope}, vision, preprocessor, 3,
        text_sizes, vision_sizes,
    )  # fmt: skip


def build_tiny_qwen3_5(
    dest: Path, *, text_sizes: dict[str, Any] | None = None, vision_sizes: dict[str, Any] | None = None
) -> Path:
    """A tiny random ``Qwen3_5ForConditionalGeneration``: 16 px patches merged 2×2 (512 px = 256 tokens).

    The text model is hybrid like the real one: a Gated DeltaNet (linear
    attention) layer, then a full attention layer. Its linear key / value head
    size is 128, the only size vLLM's CPU kernel takes; the rotary part is a
    quarter of the head (``partial_rotary_factor`` 0.25), so ``mrope_section``
    sums to 4. ``<think>`` / ``</think>`` are plain tokens and the template
    thinks by default, as Qwen3.5's does.
    """
    rope = {
        "rope_type": "default",
        "rope_theta": 10000000.0,
        "mrope_section": [2, 1, 1],
        "mrope_interleaved": True,
        "partial_rotary_factor": 0.25,
    }
    text = {
        "head_dim": 32,
        "rope_parameters": rope,
        "layer_types": ["linear_attention", "full_attention"],
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_num_key_heads": 1,
        "linear_num_value_heads": 2,
    }
    vision = {
        "depth": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 64,
        "num_position_embeddings": 2304,
    }
    preprocessor = {
        "size": {"longest_edge": 16777216, "shortest_edge": 65536},
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": "Qwen2VLImageProcessorFast",
        "processor_class": "Qwen3VLProcessor",
    }
    return _build_qwen(
        dest, "Qwen3_5", QWEN3_5_CHAT_TEMPLATE, text, vision, preprocessor, 5, text_sizes, vision_sizes,
        plain_tokens=(THINK_START, THINK_END),
    )  # fmt: skip


def build_tiny_gemma3(
    dest: Path, *, text_sizes: dict[str, Any] | None = None, vision_sizes: dict[str, Any] | None = None
) -> Path:
    """A tiny random ``Gemma3ForConditionalGeneration``: SigLIP at 896 px pooled to 256 tokens per image.

    ``text_sizes`` / ``vision_sizes`` override the widths and depths (benchmarks build larger ones).

    The text model alternates sliding-window (32 tokens, so tests cross the
    window) and full attention layers, like the real one's 5:1 pattern.
    """
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = save_tokenizer(
        dest,
        GEMMA_SPECIAL_TOKENS,
        GEMMA3_CHAT_TEMPLATE,
        CONTEXT,
        {"image_token": IMAGE_SOFT_TOKEN, "boi_token": START_OF_IMAGE, "eoi_token": END_OF_IMAGE},
        eos=GEMMA_EOS,
        pad=GEMMA_PAD,
        bos=GEMMA_BOS,
        plain_tokens=("\n", "\n\n", "\n\n\n", "\n\n\n\n"),
    )
    ids = tokenizer.convert_tokens_to_ids
    eos_ids = [ids(GEMMA_EOS), ids(END_OF_TURN)]
    text = dict(
        _TEXT,
        vocab_size=len(tokenizer),
        head_dim=32,
        query_pre_attn_scalar=32,
        sliding_window=32,
        layer_types=["sliding_attention", "full_attention"],
        bos_token_id=ids(GEMMA_BOS),
        eos_token_id=eos_ids,
        pad_token_id=ids(GEMMA_PAD),
    )
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 896,
        "patch_size": 14,
        "vision_use_head": False,
    }
    text, vision = with_sizes(text, vision, text_sizes, vision_sizes)
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=256,
        boi_token_index=ids(START_OF_IMAGE),
        eoi_token_index=ids(END_OF_IMAGE),
        image_token_index=ids(IMAGE_SOFT_TOKEN),
    )
    config.architectures = ["Gemma3ForConditionalGeneration"]
    torch.manual_seed(4)
    generation = {"bos_token_id": ids(GEMMA_BOS), "eos_token_id": eos_ids, "pad_token_id": ids(GEMMA_PAD)}
    # Gemma's scaled embeddings saturate on one token with a wide spread; a narrow one keeps outputs input-dependent.
    save_weights(Gemma3ForConditionalGeneration(config), dest, generation, spread=0.05)
    # Published Gemma 3 checkpoints name the vision tower ``vision_tower.vision_model.*``; vLLM maps only those.
    for file in dest.glob("*.safetensors"):
        tensors = load_file(file)
        renamed = {_published_name(k): v for k, v in tensors.items()}
        save_file(renamed, file, metadata={"format": "pt"})
    write_json(
        dest / "preprocessor_config.json",
        {
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "image_processor_type": "Gemma3ImageProcessor",
            "image_seq_length": 256,
            "processor_class": "Gemma3Processor",
            "resample": 2,
            "rescale_factor": 1 / 255,
            "size": {"height": 896, "width": 896},
        },
    )
    write_json(dest / "processor_config.json", {"image_seq_length": 256, "processor_class": "Gemma3Processor"})
    (dest / "chat_template.jinja").write_text(GEMMA3_CHAT_TEMPLATE)
    return dest


def _published_name(key: str) -> str:
    for prefix in ("model.vision_tower.", "vision_tower."):
        if key.startswith(prefix) and not key.startswith(prefix + "vision_model."):
            return "vision_tower.vision_model." + key[len(prefix) :]
    return key

"""Tiny random-weight checkpoints of InternVL and LLaVA, built offline (see ``oculi.testing.checkpoints``).

- ``build_tiny_internvl``: ``InternVLForConditionalGeneration`` (InternViT
  vision tower + Qwen2 text model), 448 px tiles of 32×32 patches of 14 px,
  pixel shuffle 0.5 → 256 tokens a tile, tiny hidden sizes. Builds in seconds.
- ``build_tiny_internvl_vllm``: the same with text head size 32 (vLLM's CPU
  attention accepts 32–512).
- ``build_tiny_llava``: ``LlavaForConditionalGeneration`` (CLIP vision tower
  + Llama text model), a model outside the families; the engine uses its own processor.
- ``build_internvl3_1b_random``: the real sizes of ``OpenGVLab/InternVL3-1B-hf``
  (InternViT-300M + Qwen2.5-0.5B), random weights — for benchmarks only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oculi.testing.vocab import (
    CLIP_MEAN,
    CLIP_STD,
    ENDOFTEXT,
    IM_END,
    IM_START,
    IMAGENET_MEAN,
    IMAGENET_STD,
    IMG_CONTEXT,
    IMG_END,
    IMG_START,
    INTERNVL_CHAT_TEMPLATE,
    INTERNVL_SPECIAL_TOKENS,
    LLAVA_CHAT_TEMPLATE,
    LLAVA_IMAGE,
    VIDEO,
    save_tokenizer,
)
from oculi.testing.weights import spread_weights


def _write_internvl(
    dest: Path,
    *,
    text: dict[str, Any],
    vision: dict[str, Any],
    dtype: str,
    seed: int,
    vocab_size: int | None = None,
    spread: float | None = None,
) -> Path:
    import torch
    from transformers import (
        GenerationConfig,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLVisionConfig,
        Qwen2Config,
    )

    dest.mkdir(parents=True, exist_ok=True)
    context = text["max_position_embeddings"]
    tokenizer = save_tokenizer(
        dest,
        INTERNVL_SPECIAL_TOKENS,
        INTERNVL_CHAT_TEMPLATE,
        context,
        {
            "start_image_token": IMG_START,
            "end_image_token": IMG_END,
            "context_image_token": IMG_CONTEXT,
            "video_token": VIDEO,
        },
    )
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    text_config = Qwen2Config(
        vocab_size=vocab_size or len(tokenizer),
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
        use_cache=True,
        **text,
    )
    vision_config = InternVLVisionConfig(**vision)
    config = InternVLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMG_CONTEXT),
        image_seq_length=256,
        downsample_ratio=0.5,
        tie_word_embeddings=True,
    )
    config.architectures = ["InternVLForConditionalGeneration"]
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    if spread is not None:
        spread_weights(model, spread)
    model = model.to(getattr(torch, dtype)).eval()
    model.save_pretrained(dest)
    GenerationConfig(bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id).save_pretrained(dest)

    # The processor files of the real repos: GotOcr2 image processor (448 px,
    # ImageNet mean/std, crop to patches up to 12), InternVL processor with 256
    # tokens a tile, and the chat template on both tokenizer and processor.
    (dest / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_to_patches": False,
                "data_format": "channels_first",
                "do_convert_rgb": True,
                "do_normalize": True,
                "do_rescale": True,
                "do_resize": True,
                "image_mean": IMAGENET_MEAN,
                "image_processor_type": "GotOcr2ImageProcessor",
                "image_std": IMAGENET_STD,
                "max_patches": 12,
                "min_patches": 1,
                "processor_class": "InternVLProcessor",
                "resample": 3,
                "rescale_factor": 1 / 255,
                "size": {"height": 448, "width": 448},
            },
            indent=2,
        )
        + "\n"
    )
    (dest / "processor_config.json").write_text(
        json.dumps({"image_seq_length": 256, "processor_class": "InternVLProcessor"}, indent=2) + "\n"
    )
    (dest / "chat_template.jinja").write_text(INTERNVL_CHAT_TEMPLATE)
    return dest


def build_tiny_internvl(dest: Path, *, text_heads: tuple[int, int] = (4, 2)) -> Path:
    """A tiny random-weight ``InternVLForConditionalGeneration`` (Qwen2 text model) in ``dest``.

    Real geometry where it matters (448 px tiles, 14 px patches, pixel shuffle
    0.5 → 256 tokens a tile, ``<img>``/``</img>``/``<IMG_CONTEXT>`` tokens,
    ChatML template), tiny widths so it builds and runs in seconds.
    ``text_heads`` = (attention heads, KV heads) of the width-64 text model:
    the default gives head size 16; vLLM's CPU attention needs ≥ 32, hence
    ``build_tiny_internvl_vllm`` with (2, 1).
    """
    return _write_internvl(
        Path(dest),
        text={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": text_heads[0],
            "num_key_value_heads": text_heads[1],
            "max_position_embeddings": 8192,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
        },
        vision={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 448,
            "patch_size": 14,
            "norm_type": "layer_norm",
            "use_qk_norm": False,
            "attention_bias": True,
        },
        dtype="float32",
        seed=0,
        spread=0.5,
    )


def build_tiny_internvl_vllm(dest: Path) -> Path:
    """``build_tiny_internvl`` with text head size 32 (2 heads, 1 KV head), which vLLM's CPU attention accepts."""
    return build_tiny_internvl(dest, text_heads=(2, 1))


def build_internvl3_1b_random(dest: Path, dtype: str = "bfloat16") -> Path:
    """Random weights at the real sizes of ``OpenGVLab/InternVL3-1B-hf`` (for benchmarks only).

    InternViT-300M (24 layers, width 1024) + Qwen2.5-0.5B (24 layers, width
    896, 14 heads / 2 KV heads, 32k positions). The vocabulary is our small
    trained tokenizer's (the real one has 151k entries, which only changes the
    embedding and output-head sizes); the embedding and output head are as
    wide as the real ones (151,674 rows) so their cost per token is real.
    """
    return _write_internvl(
        Path(dest),
        text={
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
        },
        vision={
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 448,
            "patch_size": 14,
            "norm_type": "layer_norm",
            "use_qk_norm": False,
            "attention_bias": True,
            "layer_scale_init_value": 0.1,
        },
        dtype=dtype,
        seed=0,
        vocab_size=151674,  # the real vocabulary size, so the output head costs what it really costs
    )


def build_tiny_llava(dest: Path) -> Path:
    """A tiny random-weight ``LlavaForConditionalGeneration`` (CLIP vision + Llama text) in ``dest``.

    224 px images of 14 px patches → 256 image tokens (the CLS token is
    dropped, ``vision_feature_select_strategy="default"``), ``<image>``
    placeholder expanded by ``LlavaProcessor``.
    """
    import torch
    from transformers import (
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    special = [ENDOFTEXT, IM_START, IM_END, LLAVA_IMAGE]
    tokenizer = save_tokenizer(dest, special, LLAVA_CHAT_TEMPLATE, 4096, {"image_token": LLAVA_IMAGE})
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=224,
        patch_size=14,
        projection_dim=32,
    )
    config = LlavaConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=tokenizer.convert_tokens_to_ids(LLAVA_IMAGE),  # type: ignore[call-arg]
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=256,
    )
    config.architectures = ["LlavaForConditionalGeneration"]
    torch.manual_seed(1)
    model = LlavaForConditionalGeneration(config)
    spread_weights(model, 0.5)
    model.eval()
    model.save_pretrained(dest)
    GenerationConfig(bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id).save_pretrained(dest)
    (dest / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": 224, "width": 224},
                "do_center_crop": True,
                "do_convert_rgb": True,
                "do_normalize": True,
                "do_rescale": True,
                "do_resize": True,
                "image_mean": CLIP_MEAN,
                "image_processor_type": "CLIPImageProcessor",
                "image_std": CLIP_STD,
                "processor_class": "LlavaProcessor",
                "resample": 3,
                "rescale_factor": 1 / 255,
                "size": {"shortest_edge": 224},
            },
            indent=2,
        )
        + "\n"
    )
    (dest / "processor_config.json").write_text(
        json.dumps(
            {
                "image_token": LLAVA_IMAGE,
                "num_additional_image_tokens": 1,
                "patch_size": 14,
                "processor_class": "LlavaProcessor",
                "vision_feature_select_strategy": "default",
            },
            indent=2,
        )
        + "\n"
    )
    (dest / "chat_template.jinja").write_text(LLAVA_CHAT_TEMPLATE)
    return dest

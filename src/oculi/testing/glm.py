"""A tiny random-weight GLM-4.1V / GLM-4.6V-Flash checkpoint (``Glm4vForConditionalGeneration``), built offline.

Like the other family builders (``family_checkpoints``): the real classes and
processor files, GLM's special tokens in a real trained BPE tokenizer, a
template shaped like GLM-4.1V's, tiny widths. The geometry that makes SPEC §3
exact: 14 px patches merged 2×2 (temporal patch 2), so a 448 px view is 256
tokens, the grid one image and the thumbnail another, as Qwen's. The text
model's rotary part is half the head (``partial_rotary_factor`` 0.5), so
``mrope_section`` sums to 8 for head size 32 (``shared/notes/model-fixtures.md``).
GLM-4.1V thinks by default: its generation prompt opens ``<think>``, and
``enable_thinking=false`` writes an empty block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oculi.testing.family_checkpoints import CONTEXT, save_weights, with_sizes, write_json
from oculi.testing.vocab import CLIP_MEAN, CLIP_STD, save_tokenizer

GLM_ENDOFTEXT = "<|endoftext|>"
GMASK, SOP = "[gMASK]", "<sop>"
SYSTEM, USER, ASSISTANT, OBSERVATION = "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"
BEGIN_OF_IMAGE, END_OF_IMAGE, IMAGE = "<|begin_of_image|>", "<|end_of_image|>", "<|image|>"
BEGIN_OF_VIDEO, END_OF_VIDEO, VIDEO = "<|begin_of_video|>", "<|end_of_video|>", "<|video|>"
GLM_SPECIAL_TOKENS = [GLM_ENDOFTEXT, GMASK, SOP, SYSTEM, USER, ASSISTANT]
GLM_SPECIAL_TOKENS += [BEGIN_OF_IMAGE, END_OF_IMAGE, IMAGE, BEGIN_OF_VIDEO, END_OF_VIDEO, VIDEO]
THINK_START, THINK_END = "<think>", "</think>"

#: GLM-4.1V's template's shape: ``[gMASK]<sop>``, ``<|role|>\n`` turns, an image as
#: ``<|begin_of_image|><|image|><|end_of_image|>`` (the processor expands ``<|image|>``).
GLM4V_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<|begin_of_image|><|image|><|end_of_image|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think></think>\\n' }}"
    "{% else %}{{ '<think>' }}{% endif %}{% endif %}"
)


#: GLM-4.5V / 4.6V's text model: mixture-of-experts layers after a first dense one (tiny: 4 routed experts, 2 a token).
_MOE = {
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "moe_intermediate_size": 32,
    "first_k_dense_replace": 1,
    "n_group": 1,
    "topk_group": 1,
    # The published configs write these; vLLM's GLM-4.5V reads them (transformers' defaults: the same values).
    "head_dim": 32,
    "use_qk_norm": False,
}


def build_tiny_glm4v_moe(dest: Path) -> Path:
    """A tiny random ``Glm4vMoeForConditionalGeneration`` (GLM-4.5V / 4.6V): GLM-4.1V's vision and geometry."""
    return build_tiny_glm4v(dest, moe=True)


def build_tiny_glm4v(
    dest: Path,
    *,
    text_sizes: dict[str, Any] | None = None,
    vision_sizes: dict[str, Any] | None = None,
    moe: bool = False,
) -> Path:
    """A tiny random ``Glm4vForConditionalGeneration``: 14 px patches merged 2×2 (448 px = 256 tokens)."""
    import torch
    from transformers import (
        Glm4vConfig,
        Glm4vForConditionalGeneration,
        Glm4vMoeConfig,
        Glm4vMoeForConditionalGeneration,
    )

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = save_tokenizer(
        dest,
        GLM_SPECIAL_TOKENS + ([OBSERVATION] if moe else []),  # llama.cpp's GLM-4.5 converter names it
        GLM4V_CHAT_TEMPLATE,
        CONTEXT,
        {"image_token": IMAGE, "video_token": VIDEO},
        eos=GLM_ENDOFTEXT,
        pad=GLM_ENDOFTEXT,
        plain_tokens=(THINK_START, THINK_END),
    )
    ids = tokenizer.convert_tokens_to_ids
    eos = [ids(GLM_ENDOFTEXT), ids(USER)]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "partial_rotary_factor": 0.5}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-5,
        "rope_parameters": rope,
        "eos_token_id": eos,
        "pad_token_id": ids(GLM_ENDOFTEXT),
    }
    vision = {
        "depth": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "image_size": 336,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 64,
    }
    if moe:
        text.update(_MOE)
    text, vision = with_sizes(text, vision, text_sizes, vision_sizes)
    config = (Glm4vMoeConfig if moe else Glm4vConfig)(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=ids(IMAGE),
        video_token_id=ids(VIDEO),
        image_start_token_id=ids(BEGIN_OF_IMAGE),
        image_end_token_id=ids(END_OF_IMAGE),
        video_start_token_id=ids(BEGIN_OF_VIDEO),
        video_end_token_id=ids(END_OF_VIDEO),
    )
    model_class = Glm4vMoeForConditionalGeneration if moe else Glm4vForConditionalGeneration
    config.architectures = [model_class.__name__]
    torch.manual_seed(6)
    save_weights(model_class(config), dest, {"eos_token_id": eos, "pad_token_id": ids(GLM_ENDOFTEXT)})
    write_json(
        dest / "preprocessor_config.json",
        {
            "size": {"shortest_edge": 12544, "longest_edge": 9633792},
            "do_rescale": True,
            "patch_size": 14,
            "temporal_patch_size": 2,
            "merge_size": 2,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
            "image_processor_type": "Glm4vImageProcessor",
            "processor_class": "Glm4vProcessor",
        },
    )
    (dest / "chat_template.jinja").write_text(GLM4V_CHAT_TEMPLATE)
    return dest

"""A tiny random-weight Gemma 4 checkpoint (``Gemma4ForConditionalGeneration``), built offline.

Like the other family builders (``family_checkpoints``): the real classes and
processor files, Gemma 4's special tokens in a real trained BPE tokenizer, a
template shaped like Gemma 4's (``<|turn>user … <turn|>``, an image as
``<|image|>``, which the processor expands to ``<|image>`` + soft tokens +
``<image|>``), tiny widths. The geometry that makes SPEC §3 exact: 16 px
patches pooled 3×3 under the image processor's soft-token budget 280, so a
768 px view is 16 × 16 = 256 tokens, every view its own image.

What the real architecture needs and this keeps (``shared/notes/model-fixtures.md``):
a sliding-window layer (head 32, window 32 so tests cross it) then a full
layer with its own head size (64: ``global_head_dim``) and proportional
rotary, per-layer input embeddings, bidirectional attention over image
tokens (``use_bidirectional_attention="vision"``). The tokenizer carries the
audio tokens and ``<|video|>`` (the processor checks the first and adds the
second at start-up, which would otherwise grow the vocabulary past the
embeddings). The processor files are written by hand, naming the classes the
published checkpoints name (no torchvision here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oculi.testing.family_checkpoints import CONTEXT, save_weights, with_sizes, write_json
from oculi.testing.vocab import save_tokenizer

BOS, EOS, PAD = "<bos>", "<eos>", "<pad>"
START_OF_TURN, END_OF_TURN = "<|turn>", "<turn|>"
START_OF_IMAGE, END_OF_IMAGE, IMAGE = "<|image>", "<image|>", "<|image|>"
START_OF_AUDIO, END_OF_AUDIO, AUDIO = "<|audio>", "<audio|>", "<|audio|>"
VIDEO = "<|video|>"
THINK = "<|think|>"
START_OF_CHANNEL, END_OF_CHANNEL = "<|channel>", "<channel|>"
GEMMA4_SPECIAL_TOKENS = [PAD, EOS, BOS, START_OF_TURN, END_OF_TURN, START_OF_IMAGE, END_OF_IMAGE, IMAGE]
GEMMA4_SPECIAL_TOKENS += [START_OF_AUDIO, END_OF_AUDIO, AUDIO, VIDEO, THINK, START_OF_CHANNEL, END_OF_CHANNEL]

#: Gemma 4's template's shape: ``<bos>``, ``<|turn>role\n … <turn|>\n`` turns (the assistant is ``model``), the
#: system turn opening with ``<|think|>`` when thinking is on (off by default; the model then thinks in
#: ``<|channel>thought\n…<channel|>``, which earlier model turns drop), an image as ``<|image|>`` (expanded by
#: the processor).
GEMMA4_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set thinking = enable_thinking is defined and enable_thinking %}"
    "{% if thinking or messages[0]['role'] == 'system' %}{{ '<|turn>system\\n' }}"
    "{% if thinking %}{{ '<|think|>' }}{% endif %}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% if messages[0]['content'] is string %}{{ messages[0]['content'] | trim }}"
    "{% else %}{{ messages[0]['content'][0]['text'] | trim }}{% endif %}{% endif %}"
    "{{ '<turn|>\\n' }}{% endif %}"
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<|turn>' + role + '\\n' }}"
    "{% if message['content'] is string %}"
    "{% if role == 'model' and '<|channel>' in message['content'] %}"
    "{{ message['content'].split('<channel|>')[-1] | trim }}"
    "{% else %}{{ message['content'] | trim }}{% endif %}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<|image|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<turn|>\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|turn>model\\n' }}{% endif %}"
)


def build_tiny_gemma4(
    dest: Path, *, text_sizes: dict[str, Any] | None = None, vision_sizes: dict[str, Any] | None = None
) -> Path:
    """A tiny random ``Gemma4ForConditionalGeneration``: 16 px patches pooled 3×3 (768 px = 256 tokens)."""
    import torch
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    extra = {
        "image_token": IMAGE,
        "boi_token": START_OF_IMAGE,
        "eoi_token": END_OF_IMAGE,
        "audio_token": AUDIO,
        "boa_token": START_OF_AUDIO,
        "eoa_token": END_OF_AUDIO,
    }
    tokenizer = save_tokenizer(
        dest, GEMMA4_SPECIAL_TOKENS, GEMMA4_CHAT_TEMPLATE, CONTEXT, extra, eos=EOS, pad=PAD, bos=BOS,
        plain_tokens=("\n", "\n\n"),
    )  # fmt: skip
    ids = tokenizer.convert_tokens_to_ids
    eos = [ids(EOS), ids(END_OF_TURN)]
    text = {
        "vocab_size": len(tokenizer),
        "vocab_size_per_layer_input": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "global_head_dim": 64,
        "hidden_size_per_layer_input": 16,
        "sliding_window": 32,
        "layer_types": ["sliding_attention", "full_attention"],
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-6,
        "use_bidirectional_attention": "vision",
        "final_logit_softcapping": 30.0,
        "bos_token_id": ids(BOS),
        "eos_token_id": eos,
        "pad_token_id": ids(PAD),
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "patch_size": 16,
        "pooling_kernel_size": 3,
        "position_embedding_size": 512,
    }
    text, vision = with_sizes(text, vision, text_sizes, vision_sizes)
    config = Gemma4Config(
        text_config=text,
        vision_config=vision,
        boi_token_id=ids(START_OF_IMAGE),
        eoi_token_id=ids(END_OF_IMAGE),
        image_token_id=ids(IMAGE),
        video_token_id=ids(VIDEO),
        boa_token_id=ids(START_OF_AUDIO),
        eoa_token_index=ids(END_OF_AUDIO),
        audio_token_id=ids(AUDIO),
    )
    config.architectures = ["Gemma4ForConditionalGeneration"]
    # The published vision configs carry the default soft-token budget; vLLM reads it (the processor's default).
    vision_config: Any = config.vision_config
    vision_config.default_output_length = 280
    torch.manual_seed(7)
    generation = {"bos_token_id": ids(BOS), "eos_token_id": eos, "pad_token_id": ids(PAD)}
    save_weights(Gemma4ForConditionalGeneration(config), dest, generation, spread=0.05)
    image_processor = {
        "image_processor_type": "Gemma4ImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": False,
        "image_mean": [0.0, 0.0, 0.0],
        "image_std": [1.0, 1.0, 1.0],
        "resample": 3,
        "patch_size": 16,
        "pooling_kernel_size": 3,
        "max_soft_tokens": 280,
    }
    write_json(
        dest / "processor_config.json",
        {
            "processor_class": "Gemma4Processor",
            "image_seq_length": 280,
            "audio_seq_length": 750,
            "audio_ms_per_token": 40,
            "image_processor": image_processor,
            "video_processor": {
                **image_processor,
                "image_processor_type": None,
                "video_processor_type": "Gemma4VideoProcessor",
                "max_soft_tokens": 70,
                "num_frames": 32,
            },
            "feature_extractor": {
                "feature_extractor_type": "Gemma4AudioFeatureExtractor",
                "feature_size": 128,
                "sampling_rate": 16000,
            },
        },
    )
    (dest / "chat_template.jinja").write_text(GEMMA4_CHAT_TEMPLATE)
    return dest

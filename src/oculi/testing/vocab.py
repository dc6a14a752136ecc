"""The tokenizer side of the test checkpoints: special tokens, chat templates, a trained BPE.

The tokenizer is a real byte-level BPE with Qwen2's pre-tokenizer, trained
with the ``tokenizers`` library on a small built-in corpus, wrapped and saved
with ``save_pretrained`` exactly like a hub tokenizer (``tokenizer.json`` +
``tokenizer_config.json`` naming ``Qwen2Tokenizer``, the chat template and
the family's extra special tokens).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMG_START = "<img>"
IMG_END = "</img>"
IMG_CONTEXT = "<IMG_CONTEXT>"
VIDEO = "<video>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
LLAVA_IMAGE = "<image>"

INTERNVL_SPECIAL_TOKENS = [
    ENDOFTEXT,
    IM_START,
    IM_END,
    IMG_START,
    IMG_END,
    IMG_CONTEXT,
    "<quad>",
    "</quad>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    VIDEO,
]

# The chat template of the real InternVL *-hf checkpoints (ChatML; one
# ``<IMG_CONTEXT>`` placeholder per image, which the processor expands).
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}"
    "{{ '<video>\\n' }}"
    "{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{'<|im_start|>assistant\\n' }}"
    "{% endif %}"
)

# ChatML with LLaVA's ``<image>`` placeholder, images kept in order with text
# (like the llava-interleave / llava-onevision Qwen templates).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}"
    "{{ '<image>\\n' }}"
    "{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{'<|im_start|>assistant\\n' }}"
    "{% endif %}"
)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# Qwen2's pre-tokenizer split (byte-level BPE after this regex).
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CORPUS = """\
The quick brown fox jumps over the lazy dog. A picture shows a red square on a white background.
What is in this image? Describe the image in detail. There is a cat sitting on a chair next to a window.
The chart has three bars: blue, green and orange. The text in the photo reads "open 9 to 5".
Count the objects: one, two, three, four, five, six, seven, eight, nine, ten. Numbers 0 1 2 3 4 5 6 7 8 9.
You are a helpful assistant. Answer the question about the images briefly and precisely.
Compare the first image with the second image. Which one is brighter, left or right, top or bottom?
A dog runs across the green grass in the park while children play with a yellow ball under the trees.
The document lists names, dates, amounts and addresses; read the table row by row and column by column.
Hello world! How are you today? I am fine, thank you. Sure, here is a short summary of the scene.
"""


def _train_tokenizer(special_tokens: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (Qwen2 pre-tokenizer) trained on the built-in corpus."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return tokenizer


def save_tokenizer(
    dest: Path,
    special_tokens: list[str],
    chat_template: str,
    model_max_length: int,
    extra_special_tokens: dict[str, str],
    vocab_size: int = 800,
    *,
    eos: str = IM_END,
    pad: str = ENDOFTEXT,
    bos: str | None = None,
    plain_tokens: tuple[str, ...] = (),
) -> Any:
    """Train, wrap as a transformers fast tokenizer, and ``save_pretrained`` it into ``dest``.

    ``plain_tokens``: added tokens that are not special (kept when decoding), e.g. Gemma's ``"\n\n"``.
    """
    from transformers import PreTrainedTokenizerFast

    raw = _train_tokenizer(special_tokens, vocab_size)
    if plain_tokens:
        from tokenizers import AddedToken

        raw.add_tokens([AddedToken(t, normalized=False) for t in plain_tokens])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token=eos,
        pad_token=pad,
        unk_token=None,
        bos_token=bos,
        model_max_length=model_max_length,
        additional_special_tokens=[t for t in special_tokens if t not in (pad, eos, bos)],
        extra_special_tokens=extra_special_tokens,
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    tokenizer.save_pretrained(dest)
    _patch_json(dest / "tokenizer_config.json", {"tokenizer_class": "Qwen2Tokenizer"})
    return tokenizer


def _patch_json(path: Path, updates: dict[str, Any]) -> None:
    data = json.loads(path.read_text())
    data.update(updates)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

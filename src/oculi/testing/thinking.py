"""A tiny thinking checkpoint: the tiny InternVL with a Qwen3-style thinking chat template.

InternVL3.5 has a thinking mode; its open sibling families (Qwen3-VL
*Thinking*, GLM-4.1V-Thinking) write ``<think>…</think>`` before the answer,
with the generation prompt opening the block. This checkpoint is
``build_tiny_internvl`` plus:

- ``<think>`` and ``</think>`` as ordinary (non-special) added tokens, as in
  Qwen3's tokenizer, so they decode into the text the pipeline splits;
- a ChatML template whose generation prompt is ``<|im_start|>assistant\\n<think>\\n``
  and which honours ``enable_thinking=false`` by writing an empty think block
  (``<think>\\n\\n</think>\\n\\n``), as Qwen3's does; earlier turns' reasoning
  is dropped from the prompt, as Qwen3's template does.

With random weights the model never closes the block within a few tokens, so
all its output is reasoning; with thinking off all of it is content.
"""

from __future__ import annotations

from pathlib import Path

from oculi.testing.internvl import build_tiny_internvl
from oculi.testing.vocab import INTERNVL_CHAT_TEMPLATE

THINK_START = "<think>"
THINK_END = "</think>"

#: ChatML (InternVL's) with Qwen3's thinking generation prompt and ``enable_thinking`` switch.
THINKING_CHAT_TEMPLATE = INTERNVL_CHAT_TEMPLATE.replace(
    "{{'<|im_start|>assistant\\n' }}",
    "{{'<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{% else %}"
    "{{ '<think>\\n' }}"
    "{% endif %}",
)


def build_tiny_internvl_thinking(dest: Path, *, text_heads: tuple[int, int] = (4, 2)) -> Path:
    """``build_tiny_internvl`` with think tags in the vocabulary and a thinking template (module docstring).

    ``text_heads``: as ``build_tiny_internvl``'s ((2, 1) for vLLM's CPU attention).
    """
    from transformers import AutoTokenizer, InternVLForConditionalGeneration

    dest = build_tiny_internvl(Path(dest), text_heads=text_heads)
    tokenizer = AutoTokenizer.from_pretrained(dest)
    tokenizer.add_tokens([THINK_START, THINK_END], special_tokens=False)
    tokenizer.chat_template = THINKING_CHAT_TEMPLATE
    tokenizer.save_pretrained(dest)
    model = InternVLForConditionalGeneration.from_pretrained(dest)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.save_pretrained(dest)
    (dest / "chat_template.jinja").write_text(THINKING_CHAT_TEMPLATE)
    return dest

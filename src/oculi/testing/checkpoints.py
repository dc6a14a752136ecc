"""Random-weight checkpoints of real VLM architectures, built offline.

Tests and benchmarks never download a model. Instead they build a checkpoint
here, laid out exactly like the real hub repository (``config.json``,
safetensors weights, ``tokenizer.json`` + ``tokenizer_config.json`` with the
family's special tokens, a chat template, the image processor and processor
configs), and load it back through ``oculi.engines.hf.load`` — the same code
that loads real checkpoints.

- ``internvl``: ``build_tiny_internvl`` (``InternVLForConditionalGeneration``,
  448 px tiles → 256 tokens a tile, tiny widths, builds in seconds), its
  vLLM variant (text head size 32), ``build_tiny_llava`` (a model outside the
  families: the engine uses its own processor) and
  ``build_internvl3_1b_random`` (real sizes, random weights, for benchmarks);
- ``thinking``: the tiny InternVL with a Qwen3-style thinking template;
- ``family_checkpoints``: Qwen2.5-VL, Qwen3-VL, Qwen3.5 and Gemma 3, the other
  families SPEC §3 maps exactly onto (``tiny-qwen2_5_vl``, ``tiny-qwen3_vl``,
  ``tiny-qwen3_5``, ``tiny-gemma3``); ``glm``: GLM-4.1V (``tiny-glm4v``);
  ``gemma4``: Gemma 4 (``tiny-gemma4``).

The tokenizer is a real byte-level BPE trained with the ``tokenizers`` library
on a small built-in corpus, so text round-trips and token counts are real.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from oculi.testing.family_checkpoints import (
    build_tiny_gemma3,
    build_tiny_qwen2_5_vl,
    build_tiny_qwen3_5,
    build_tiny_qwen3_vl,
)
from oculi.testing.gemma4 import build_tiny_gemma4
from oculi.testing.glm import build_tiny_glm4v, build_tiny_glm4v_moe
from oculi.testing.internvl import (
    build_internvl3_1b_random,
    build_tiny_internvl,
    build_tiny_internvl_vllm,
    build_tiny_llava,
)
from oculi.testing.thinking import build_tiny_internvl_thinking
from oculi.testing.vocab import IM_END, IM_START, IMG_CONTEXT, IMG_END, IMG_START, INTERNVL_CHAT_TEMPLATE

#: Bump when the layout of a built checkpoint changes, so caches rebuild.
CHECKPOINT_VERSION = 2

__all__ = [
    "BUILDERS",
    "CHECKPOINT_VERSION",
    "IMG_CONTEXT",
    "IMG_END",
    "IMG_START",
    "IM_END",
    "IM_START",
    "INTERNVL_CHAT_TEMPLATE",
    "build_internvl3_1b_random",
    "build_tiny_internvl",
    "build_tiny_internvl_vllm",
    "build_tiny_llava",
    "cached_checkpoint",
]


def build_tiny_internvl_thinking_vllm(dest: Path) -> Path:
    """The thinking checkpoint with text head size 32, which vLLM's CPU attention accepts."""
    return build_tiny_internvl_thinking(dest, text_heads=(2, 1))


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "tiny-internvl": build_tiny_internvl,
    "tiny-internvl-vllm": build_tiny_internvl_vllm,
    "tiny-llava": build_tiny_llava,
    "tiny-qwen2_5_vl": build_tiny_qwen2_5_vl,
    "tiny-qwen3_vl": build_tiny_qwen3_vl,
    "tiny-qwen3_5": build_tiny_qwen3_5,
    "tiny-glm4v": build_tiny_glm4v,
    "tiny-glm4v_moe": build_tiny_glm4v_moe,
    "tiny-gemma3": build_tiny_gemma3,
    "tiny-gemma4": build_tiny_gemma4,
    "internvl3-1b-random": build_internvl3_1b_random,
    "tiny-internvl-thinking": build_tiny_internvl_thinking,
    "tiny-internvl-thinking-vllm": build_tiny_internvl_thinking_vllm,
}


def default_cache_root() -> Path:
    """``$OCULI_CHECKPOINT_CACHE``, else ``<repo>/.cache/oculi-checkpoints``."""
    env = os.environ.get("OCULI_CHECKPOINT_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".cache" / "oculi-checkpoints"


def cached_checkpoint(name: str, root: Path | None = None) -> Path:
    """Build checkpoint ``name`` (a key of ``BUILDERS``) once under ``root`` and reuse it.

    The directory is ``<root>/<name>-v<CHECKPOINT_VERSION>``. Building happens
    in a temporary sibling that is renamed into place, so a crash or a
    concurrent builder never leaves a half-written checkpoint behind.
    """
    if name not in BUILDERS:
        raise KeyError(f"unknown test checkpoint {name!r}; known: {', '.join(sorted(BUILDERS))}")
    root = Path(root) if root is not None else default_cache_root()
    final = root / f"{name}-v{CHECKPOINT_VERSION}"
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        BUILDERS[name](tmp)
        try:
            tmp.rename(final)
        except OSError:
            # Someone else finished first: theirs is as good as ours.
            if not (final / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final

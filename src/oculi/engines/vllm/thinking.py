"""The vLLM engine's side of thinking models: vLLM's own reasoning machinery, configured from oculi's format.

The format comes from the checkpoint's chat template, as in the transformers
engine (``engines.common.thinking``). vLLM samples on its own side, so oculi asks
vLLM to do what the other engines do token by token:

- ``ReasoningConfig`` (start / end strings) arms vLLM's thinking-budget state,
  and ``SamplingParams.thinking_token_budget`` ends the thinking when a
  ``reasoning_effort`` budget is spent (vLLM forces the end tokens);
- a model whose tags are special tokens (Gemma 4) gets a tokenizer copy in
  which they are plain text (``tags_as_text_tokenizer``), so vLLM's text
  keeps them for oculi's split;
- ``StructuredOutputsConfig.reasoning_parser`` set to oculi's own parser
  (``reasoner.py``: the format's tags, the same on every engine, and free of
  vLLM's per-family parsers and what they import) makes vLLM apply a grammar
  only after the thinking.

Features the installed vLLM lacks are skipped with a log line (a budget is
then not enforced); reasoning tokens are always counted here, from the
token ids vLLM returns (``ThinkTracker``), so usage agrees across engines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from oculi.reasoning.formats import ReasoningFormat

log = logging.getLogger(__name__)


def engine_options(fmt: ReasoningFormat | None, known: set[str], structured: dict[str, Any]) -> dict[str, Any]:
    """``AsyncEngineArgs`` additions for a thinking model; ``structured`` (the structured-outputs config) is updated."""
    if fmt is None:
        return {}
    from oculi.engines.vllm.plugin import register_reasoner
    from oculi.engines.vllm.reasoner import NAME, TAGS_ENV

    os.environ[TAGS_ENV] = f"{fmt.start}\x1f{fmt.end}"  # vLLM's processes inherit it
    register_reasoner()
    structured["reasoning_parser"] = NAME
    if "reasoning_config" not in known:
        log.warning("this vLLM has no reasoning_config: reasoning budgets are not enforced")
        return {}
    try:
        from vllm.config import ReasoningConfig
    except ImportError:
        from vllm.config.reasoning import ReasoningConfig

    config = ReasoningConfig(reasoning_parser=NAME, reasoning_start_str=fmt.start, reasoning_end_str=fmt.end)
    return {"reasoning_config": config}


def budget_option(budget: int | None) -> dict[str, Any]:
    """``SamplingParams`` keyword for a thinking budget (empty when none, or when vLLM cannot enforce one)."""
    if budget is None:
        return {}
    from vllm import SamplingParams

    fields = getattr(SamplingParams, "__struct_fields__", None) or getattr(SamplingParams, "__annotations__", {})
    if "thinking_token_budget" not in fields:
        log.warning("this vLLM has no thinking_token_budget: the reasoning budget is not enforced")
        return {}
    return {"thinking_token_budget": budget}


#: Files of a checkpoint that a tokenizer copy leaves behind (weights).
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5")


def tags_as_text_tokenizer(checkpoint: Path, tags: list[str]) -> Path:
    """A copy of ``checkpoint``'s tokenizer (and processor) files in which the thinking ``tags`` are plain text.

    vLLM writes the text of what it generates with its own detokenizer, which
    leaves special tokens out: Gemma 4's ``<|channel>`` / ``<channel|>`` are
    special, so its thinking would reach oculi's split without its tags. Told
    that the tags are not special (``added_tokens[].special`` in
    ``tokenizer.json``, ``added_tokens_decoder`` in ``tokenizer_config.json``,
    the special-token lists), vLLM keeps them in the text — stop strings and
    all — while every id stays the same (oculi tokenizes the prompt itself).
    Written once per checkpoint and tag set, under the system's temporary
    directory.
    """
    key = hashlib.sha256(f"{checkpoint.resolve()}\x1f{chr(31).join(tags)}".encode()).hexdigest()[:16]
    dest = Path(tempfile.gettempdir()) / "oculi-vllm-tokenizers" / key
    if (dest / "tokenizer_config.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=dest.parent))
    for item in checkpoint.iterdir():
        if item.is_file() and not item.name.endswith(_WEIGHTS):
            shutil.copy2(item, work / item.name)
    _mark_plain(work, set(tags))
    try:
        work.rename(dest)
    except OSError:  # another process wrote it first: the same files
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _mark_plain(folder: Path, tags: set[str]) -> None:
    """Rewrite the tokenizer files in ``folder`` so that ``tags`` are not special tokens."""
    path = folder / "tokenizer.json"
    if path.is_file():
        data = json.loads(path.read_text())
        for token in data.get("added_tokens", []):
            if token.get("content") in tags:
                token["special"] = False
        path.write_text(json.dumps(data, ensure_ascii=False))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        for entry in data.get("added_tokens_decoder", {}).values():
            if entry.get("content") in tags:
                entry["special"] = False
        for key in ("additional_special_tokens", "extra_special_tokens"):
            if isinstance(data.get(key), list):
                data[key] = [t for t in data[key] if (t.get("content") if isinstance(t, dict) else t) not in tags]
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2))

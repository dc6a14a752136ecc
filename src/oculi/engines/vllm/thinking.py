"""The vLLM engine's side of thinking models: vLLM's own reasoning machinery, configured from oculi's format.

The format comes from the checkpoint's chat template, as in the transformers
engine (``engines.common.thinking``). vLLM samples on its own side, so oculi asks
vLLM to do what the other engines do token by token:

- ``ReasoningConfig`` (start / end strings) arms vLLM's thinking-budget state,
  and ``SamplingParams.thinking_token_budget`` ends the thinking when a
  ``reasoning_effort`` budget is spent (vLLM forces the end tokens);
- ``StructuredOutputsConfig.reasoning_parser`` set to oculi's own parser
  (``reasoner.py``: the format's tags, the same on every engine, and free of
  vLLM's per-family parsers and what they import) makes vLLM apply a grammar
  only after the thinking.

Features the installed vLLM lacks are skipped with a log line (a budget is
then not enforced); reasoning tokens are always counted here, from the
token ids vLLM returns (``ThinkTracker``), so usage agrees across engines.
"""

from __future__ import annotations

import logging
import os
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

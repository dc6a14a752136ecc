"""A request's ``reasoning_effort`` → what the engine does: thinking on or off, and its budget.

``none`` turns thinking off through the chat template's ``enable_thinking``
switch, a 400 naming the model where its template has none. ``minimal`` …
``xhigh`` keep thinking on under a budget of reasoning tokens (the server's
``reasoning_budgets``, per model as ``"<model>:<effort>"``); no effort thinks as long as ``max_tokens`` allows.
Efforts on a model that does not think are accepted and change nothing (as
the hosted API does for its non-reasoning models).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oculi.errors import InvalidRequest
from oculi.reasoning.formats import ReasoningFormat

#: Every effort the clients send (OpenAI's and xai-sdk's names).
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

#: Reasoning tokens each effort may spend, unless the server is configured otherwise.
DEFAULT_BUDGETS: dict[str, int] = {"minimal": 256, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}


@dataclass(frozen=True)
class ThinkingPlan:
    """One request's thinking: ``enabled`` (the template's switch), ``budget`` (None: unbounded)."""

    enabled: bool = True
    budget: int | None = None

    def starts_inside(self, fmt: ReasoningFormat | None) -> bool:
        """Whether the output begins inside the think block (the prompt opened it, thinking on)."""
        return self.enabled and fmt is not None and fmt.opens_in_prompt


def plan_thinking(
    fmt: ReasoningFormat | None,
    effort: str | None,
    model: str,
    budgets: Mapping[str, int] | None = None,
    param: str = "reasoning_effort",
) -> ThinkingPlan | None:
    """The plan for ``effort`` on a model with reasoning format ``fmt`` (None: the model does not think)."""
    if effort is not None and effort not in EFFORTS:
        raise InvalidRequest(f"{param} must be one of {', '.join(EFFORTS)}; got {effort!r}.", param=param)
    if fmt is None:
        return None
    if effort is None:
        return ThinkingPlan()
    if effort == "none":
        if not fmt.switchable:
            raise InvalidRequest(
                f"The model {model} always thinks: its chat template has no switch to turn thinking off, "
                f"so {param} 'none' cannot be honoured. Use minimal or low for a short think.",
                param=param,
            )
        return ThinkingPlan(enabled=False)
    table = {**DEFAULT_BUDGETS, **(budgets or {})}
    return ThinkingPlan(budget=table.get(f"{model}:{effort}", table.get(effort)))

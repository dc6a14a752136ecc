"""Thinking models: their reasoning split from the answer, its budget, and its round trip.

A thinking model writes ``<think>…</think>`` (or Kimi's ``◁think▷…◁/think▷``)
before its answer. ``formats`` names the tag conventions (the parser names
vLLM and SGLang use) and recognises a thinking model from its chat template;
``split`` is the pipeline's streaming parser that moves the thinking out of
the text into ``Delta.reasoning`` for every engine; ``tracker`` follows one
sequence's token ids for the engines (reasoning tokens counted, the end tag
forced when a ``reasoning_effort`` budget is spent, a grammar held back until
the thinking is over); ``model`` is a loaded thinking model on the engine side
(its tag ids, a request's template switch and trackers); ``effort`` turns a request's effort into a
``ThinkingPlan``; ``sealed`` signs the reasoning a client carries to its next
turn (``reasoning.encrypted_content``).
"""

from oculi.reasoning.effort import ThinkingPlan, plan_thinking
from oculi.reasoning.formats import PARSERS, ReasoningFormat, detect_format
from oculi.reasoning.model import ThinkingModel
from oculi.reasoning.split import ReasoningCollector, ThinkSplitter
from oculi.reasoning.tracker import ThinkTracker

__all__ = [
    "PARSERS",
    "ReasoningCollector",
    "ReasoningFormat",
    "ThinkSplitter",
    "ThinkTracker",
    "ThinkingModel",
    "ThinkingPlan",
    "detect_format",
    "plan_thinking",
]

"""Structured outputs and tool calls, engine-neutral.

``grammar.plan`` turns a request's ``OutputSpec`` into an ``OutputPlan`` (a
grammar to decode under, tools for the prompt, whether to parse tool calls);
``matcher`` applies a grammar token by token for engines that sample
themselves; ``toolcalls`` parses the calls out of the generated text. The
JSON-schema → grammar compiler is llguidance's, not oculi's.
"""

from oculi.structured.grammar import Grammar, OutputPlan, plan
from oculi.structured.toolcalls import ToolCallParser

__all__ = ["Grammar", "OutputPlan", "ToolCallParser", "plan"]

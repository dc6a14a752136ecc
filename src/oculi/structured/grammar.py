"""An ``OutputSpec`` → the grammar the engines decode under (engine-neutral).

The JSON-schema compiler is llguidance's (``LLMatcher.grammar_from_json_schema``
and its Lark front end with ``%json`` embeds): oculi only checks sizes, names
the request field a schema came from when llguidance refuses it, and caches
the compiled text by the schema's hash (a bounded LRU).

- ``response_format`` ``json_schema`` → that schema; ``json_object`` → any
  JSON object; ``text`` → no grammar.
- ``tool_choice`` ``required`` / a named function → exactly one call in the
  Hermes / Qwen2 form ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``
  whose ``arguments`` follow the function's ``parameters`` schema (so even a
  model never trained for tools makes a valid call). ``auto`` → no grammar:
  the model's own calls in that form are parsed from its text
  (``oculi.structured.toolcalls``).

JSON is generated compactly (no free whitespace), so a model cannot pad its
answer with blanks until ``max_tokens``. A ``Grammar`` carries both the
llguidance text (what oculi's engines compile against their vocabulary) and
its source (a JSON schema or a Lark grammar), which vLLM's ``guidance``
structured-output backend takes as it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from oculi.domain import FormatKind, FunctionTool, OutputSpec, ToolChoiceMode
from oculi.errors import InvalidRequest

#: Largest schema (compact JSON bytes) of a response format or of one tool's parameters.
MAX_SCHEMA_BYTES = 64 * 1024
#: Most tools in one request, and the most schema bytes all tools together may have.
MAX_TOOLS = 128
MAX_TOOLS_BYTES = 256 * 1024
#: Compiled grammars kept (by hash of their source).
CACHE_SIZE = 256

#: llguidance JSON options: compact output, the separators ``json.dumps`` writes.
JSON_OPTIONS: dict[str, Any] = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}

TOOL_CALL_OPEN = "<tool_call>\n"
TOOL_CALL_CLOSE = "\n</tool_call>"


@dataclass(frozen=True)
class Grammar:
    """A compiled constraint: ``text`` for llguidance, ``source`` (schema or Lark) for other backends."""

    key: str  # sha256 of ``text``: the cache key engines use for their compiled matchers
    text: str
    kind: Literal["json_schema", "lark"]
    source: str


@dataclass(frozen=True)
class OutputPlan:
    """What the engines and the pipeline do for one request's ``OutputSpec``.

    ``grammar``: decode under it (None: free text). ``tools``: render them into
    the prompt (the chat template's ``tools``). ``parse_tool_calls``: parse the
    text for ``<tool_call>`` blocks.
    """

    grammar: Grammar | None = None
    tools: list[FunctionTool] = field(default_factory=list)
    parse_tool_calls: bool = False


def _compact(schema: Any) -> str:
    # Key order is kept: llguidance generates properties in the order the schema lists them.
    return json.dumps(schema, separators=(",", ":"))


@lru_cache(maxsize=CACHE_SIZE)
def _compile(kind: str, source: str) -> tuple[str, str | None]:
    """(llguidance grammar text, error or None) for a schema / Lark source; cached by value."""
    import llguidance

    if kind == "json_schema":
        text = llguidance.LLMatcher.grammar_from_json_schema(source, defaults=JSON_OPTIONS)  # type: ignore[arg-type]
    else:
        text = llguidance.LLMatcher.grammar_from_lark(source)
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(text, None)
    return text, (messages[0] if is_error and messages else None)


def compile_schema(schema: Any, param: str) -> Grammar:
    """The grammar of JSON valid under ``schema``; a 400 naming ``param`` when it is too big or unsupported."""
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{param} must be a JSON schema object.", param=param)
    source = _compact(schema)
    check_size(source, param)
    text, error = _compile("json_schema", source)
    if error is not None:
        raise _unsupported(error, param)
    return Grammar(hashlib.sha256(text.encode()).hexdigest(), text, "json_schema", source)


def check_size(source: str, param: str, limit: int = MAX_SCHEMA_BYTES) -> None:
    """A 400 stating the limit when a schema's compact JSON is over ``limit`` bytes."""
    size = len(source.encode())
    if size > limit:
        raise InvalidRequest(
            f"The schema at {param} is {size} bytes of JSON; the limit is {limit} bytes. Send a smaller schema.",
            param=param,
        )


def _unsupported(error: str, param: str) -> InvalidRequest:
    # llguidance says e.g. 'Unimplemented keys: ["if"]' or 'Unknown format: foo'; keep that, drop the grammar echo.
    reason = error.split("\n", 1)[0].split("failed to compile JSON schema: ", 1)[-1]
    return InvalidRequest(
        f"The JSON schema at {param} uses a feature oculi's constrained decoding does not support ({reason}). "
        "Remove or rewrite that keyword.",
        param=param,
        code="unsupported_schema",
    )


def tool_call_grammar(tools: list[FunctionTool], only: str | None = None) -> Grammar:
    """One ``<tool_call>`` block calling one of ``tools`` (or the one named ``only``) with valid arguments."""
    variants = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
        if only is None or t.name == only
    ]
    call = variants[0] if len(variants) == 1 else {"anyOf": variants}
    call = {**call, "x-guidance": JSON_OPTIONS}
    lark = f"start: {json.dumps(TOOL_CALL_OPEN)} call {json.dumps(TOOL_CALL_CLOSE)}\ncall: %json {_compact(call)}\n"
    text, error = _compile("lark", lark)
    if error is not None:  # each tool's schema was compiled on its own first, so this is unexpected
        raise _unsupported(error, "tools")
    return Grammar(hashlib.sha256(text.encode()).hexdigest(), text, "lark", lark)


def plan(spec: OutputSpec, *, tools_param: str = "tools", format_param: str = "response_format") -> OutputPlan:
    """The plan for ``spec`` (every refusal a 400 naming the request field)."""
    tools = spec.tools
    if len(tools) > MAX_TOOLS:
        raise InvalidRequest(f"{len(tools)} tools were sent; the limit is {MAX_TOOLS}.", param=tools_param)
    total = 0
    names: set[str] = set()
    for i, tool in enumerate(tools):
        param = f"{tools_param}[{i}]"
        if tool.name in names:
            raise InvalidRequest(f"Two tools are named {tool.name!r}; tool names must be unique.", param=param)
        names.add(tool.name)
        total += len(_compact(tool.parameters).encode())
        compile_schema(tool.parameters, f"{param}.parameters")
    if total > MAX_TOOLS_BYTES:
        raise InvalidRequest(
            f"The tools' parameter schemas are {total} bytes of JSON together; the limit is {MAX_TOOLS_BYTES} bytes.",
            param=tools_param,
        )
    choice = spec.tool_choice
    if choice.mode is ToolChoiceMode.FUNCTION and choice.name not in names:
        raise InvalidRequest(
            f"tool_choice names the function {choice.name!r}, which is not among the tools "
            f"({', '.join(sorted(names)) or 'none were sent'}).",
            param="tool_choice",
        )
    if choice.mode is ToolChoiceMode.REQUIRED and not tools:
        raise InvalidRequest("tool_choice is 'required' but no tools were sent.", param="tool_choice")
    prompt_tools = tools if spec.calls_tools else []
    if choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.FUNCTION):
        only = choice.name if choice.mode is ToolChoiceMode.FUNCTION else None
        return OutputPlan(tool_call_grammar(tools, only), prompt_tools, parse_tool_calls=True)
    fmt = spec.response_format
    grammar = None
    if fmt.kind is FormatKind.JSON_SCHEMA:
        if fmt.schema is None:
            raise InvalidRequest(f"{format_param} of type json_schema needs a schema.", param=format_param)
        grammar = compile_schema(fmt.schema, f"{format_param}.schema")
    elif fmt.kind is FormatKind.JSON_OBJECT:
        grammar = compile_schema({"type": "object"}, format_param)
    return OutputPlan(grammar, prompt_tools, parse_tool_calls=bool(prompt_tools))


def cache_info() -> Any:
    """Hits / misses of the compiled-grammar cache (for the benchmark and metrics)."""
    return _compile.cache_info()

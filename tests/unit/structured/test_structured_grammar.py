"""Request → grammar plan: what is refused (400 naming the field and the limit), what is cached."""

from __future__ import annotations

import pytest

from oculi.domain import FormatKind, FunctionTool, OutputSpec, ResponseFormat, ToolChoice, ToolChoiceMode
from oculi.errors import InvalidRequest
from oculi.structured import grammar, plan

TOOL = FunctionTool("f", None, {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})


def _schema(schema: dict) -> OutputSpec:
    return OutputSpec(response_format=ResponseFormat(FormatKind.JSON_SCHEMA, "s", schema))


def test_plain_requests_need_no_grammar() -> None:
    assert plan(OutputSpec()).grammar is None
    auto = plan(OutputSpec(tools=[TOOL]))
    assert auto.grammar is None and auto.parse_tool_calls and auto.tools == [TOOL]
    none = plan(OutputSpec(tools=[TOOL], tool_choice=ToolChoice(ToolChoiceMode.NONE)))
    assert none.tools == [] and not none.parse_tool_calls


def test_required_call_grammar_names_the_function_first() -> None:
    required = plan(OutputSpec(tools=[TOOL], tool_choice=ToolChoice(ToolChoiceMode.REQUIRED)))
    assert required.grammar is not None and required.grammar.kind == "lark"
    assert required.grammar.source.index('"name"') < required.grammar.source.index('"arguments"')


@pytest.mark.parametrize(
    ("spec", "param", "needle"),
    [
        (_schema({"type": "object", "not": {"type": "string"}}), "response_format.schema", "not"),
        (_schema({"type": "string", "format": "no-such-format"}), "response_format.schema", "no-such-format"),
        (_schema({"description": "x" * (grammar.MAX_SCHEMA_BYTES + 1)}), "response_format.schema", "65536"),
        (OutputSpec(tools=[TOOL] * (grammar.MAX_TOOLS + 1)), "tools", "limit is 128"),
        (OutputSpec(tools=[TOOL, TOOL]), "tools[1]", "unique"),
        (OutputSpec(tools=[FunctionTool("g", None, {"type": "object", "if": {}})]), "tools[0].parameters", "if"),
        (OutputSpec(tools=[TOOL], tool_choice=ToolChoice(ToolChoiceMode.FUNCTION, "g")), "tool_choice", "'g'"),
    ],
)
def test_refusals_name_the_field(spec: OutputSpec, param: str, needle: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan(spec)
    assert caught.value.param == param and needle in caught.value.message


def test_compiled_grammars_are_cached_by_value() -> None:
    schema = {"type": "object", "properties": {"cached": {"type": "boolean"}}}
    first = plan(_schema(schema)).grammar
    hits = grammar.cache_info().hits
    again = plan(_schema(dict(schema))).grammar
    assert again == first and grammar.cache_info().hits == hits + 1

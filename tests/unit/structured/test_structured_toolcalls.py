"""Tool calls out of streamed text (Hermes / Qwen2 convention), and their round trip through the domain's store form."""

from __future__ import annotations

import json

from oculi.domain import (
    Choice,
    Conversation,
    Delta,
    FinishReason,
    FormatKind,
    FunctionTool,
    Message,
    OutputSpec,
    ResponseFormat,
    Role,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)
from oculi.structured.calls import CallCollector
from oculi.structured.toolcalls import ToolCallParser

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'


def _feed_in_pieces(parser: ToolCallParser, text: str, size: int) -> tuple[str, list]:
    content, chunks = "", []
    for i in range(0, len(text), size):
        c, k = parser.feed(text[i : i + size])
        content, chunks = content + c, chunks + k
    c, k = parser.finish()
    return content + c, chunks + k


def test_calls_are_parsed_however_the_text_is_split() -> None:
    text = "Let me check." + CALL + "\n" + CALL.replace("Oslo", "Rome")
    for size in (1, 3, 7, len(text)):
        parser = ToolCallParser()
        content, chunks = _feed_in_pieces(parser, text, size)
        assert content.strip() == "Let me check."
        assert [c.position for c in chunks] == [0, 1]
        assert [json.loads(c.arguments)["city"] for c in chunks] == ["Oslo", "Rome"]
        assert all(c.id and c.id.startswith("call_") and c.name == "get_weather" for c in chunks)


def test_text_that_only_looks_like_a_call_stays_text() -> None:
    parser = ToolCallParser()
    content, chunks = _feed_in_pieces(parser, "a <tool_call>not json</tool_call> b <tool", 4)
    assert chunks == [] and content == "a <tool_call>not json</tool_call> b <tool"


def test_an_unclosed_block_at_the_end_is_still_a_call() -> None:
    parser = ToolCallParser()
    _, chunks = _feed_in_pieces(parser, CALL.removesuffix("\n</tool_call>"), 5)
    assert len(chunks) == 1 and chunks[0].name == "get_weather"


def test_collector_turns_a_stop_with_calls_into_tool_calls() -> None:
    collector = CallCollector(True)
    first = collector.delta(Delta(text=CALL[:20]))
    last = collector.delta(Delta(text=CALL[20:], finish_reason=FinishReason.STOP))
    assert first.text == "" and first.tool_calls == []
    assert last.finish_reason is FinishReason.TOOL_CALLS and len(last.tool_calls) == 1
    assert collector.content("\n", 0) == "" and collector.calls(0)[0].name == "get_weather"
    cut = CallCollector(True).delta(Delta(text=CALL, finish_reason=FinishReason.LENGTH))
    assert cut.finish_reason is FinishReason.LENGTH


def test_tool_calls_and_results_round_trip_through_the_store_form() -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Oslo"}')
    conversation = Conversation(
        [
            Message(Role.USER, [TextPart("weather?")]),
            Message(Role.ASSISTANT, [], [call]),
            Message(Role.TOOL, [TextPart("21 C")], tool_call_id="call_1"),
        ]
    )
    assert Conversation.from_dict(json.loads(json.dumps(conversation.to_dict()))) == conversation
    choice = Choice(0, "", FinishReason.TOOL_CALLS, [call])
    assert Choice.from_dict(json.loads(json.dumps(choice.to_dict()))) == choice
    spec = OutputSpec(
        ResponseFormat(FormatKind.JSON_SCHEMA, "r", {"type": "object"}, True),
        [FunctionTool("f", "d", {"type": "object"})],
        ToolChoice(ToolChoiceMode.FUNCTION, "f"),
        False,
    )
    assert OutputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec

"""The Responses stream: SPEC §5's events, in order, numbered, about one response.

    response.created, response.in_progress, response.output_item.added,
    response.content_part.added, response.output_text.delta × N,
    response.output_text.done, response.content_part.done,
    response.output_item.done, response.completed
    (``response.incomplete`` instead of ``response.completed`` when the
    output was cut at ``max_output_tokens``; ``response.failed`` on failure)

A thinking model's reasoning comes first, as a ``reasoning`` item (the
message then opens at the first answer text), streamed as xAI's API streams
it (openai's types define these events too; the AI SDK's xAI provider reads
only these): response.output_item.added, response.reasoning_summary_part.added,
response.reasoning_summary_text.delta × N, response.reasoning_summary_text.done,
response.reasoning_summary_part.done, response.output_item.done (the whole
reasoning, with ``encrypted_content`` when included).

With tools the message item opens at the first text (a constrained call has
none), and each tool call adds a ``function_call`` item:
response.output_item.added, response.function_call_arguments.delta,
response.function_call_arguments.done, response.output_item.done — the
event types of openai's ``types/responses``.

``ResponseEvents`` renders each as an SSE event (``event:`` + ``data:``) with
its ``sequence_number``; no other event types are ever sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from oculi.api.responses import mapper, tools
from oculi.api.responses.mapper import ResponseFacts
from oculi.api.responses.reasoning import reasoning_id, reasoning_item
from oculi.api.responses.schemas import (
    ContentPartEvent,
    FunctionCallArgumentsDeltaEvent,
    FunctionCallArgumentsDoneEvent,
    OutputItemEvent,
    OutputText,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
    ReasoningSummaryPartEvent,
    ReasoningSummaryTextDeltaEvent,
    ReasoningSummaryTextDoneEvent,
    SummaryText,
)
from oculi.api.sse import event
from oculi.domain import ToolCall, ToolCallChunk


class ResponseEvents:
    """Renders the events of one streamed response (see module docstring)."""

    def __init__(self, response_id: str, seal: Callable[[str], str] | None = None) -> None:
        self.response_id = response_id
        self.item_id = mapper.message_id(response_id)
        self.sequence = 0
        self.message_index: int | None = None  # output_index of the message item, once opened
        self.items = 0  # output items opened so far
        self.seal = seal  # signs the reasoning into encrypted_content (include: reasoning.encrypted_content)
        self.thought: list[str] | None = None  # the open reasoning item's text so far

    def _emit(self, model: BaseModel) -> bytes:
        data: dict[str, Any] = model.model_dump(mode="json")
        data["sequence_number"] = self.sequence
        self.sequence += 1
        return event(data["type"], data)

    def _lifecycle(self, kind: str, facts: ResponseFacts) -> bytes:
        data = {
            "type": kind,
            "sequence_number": self.sequence,
            "response": mapper.response_dict(mapper.to_response(facts)),
        }
        self.sequence += 1
        return event(kind, data)

    def _where(self) -> dict[str, Any]:
        index = self.message_index or 0
        return {"sequence_number": 0, "item_id": self.item_id, "output_index": index, "content_index": 0}

    def opening(self, facts: ResponseFacts, *, lazy_message: bool = False) -> list[bytes]:
        """Everything before the first token: created, in progress, and (unless lazy) the empty message item."""
        events = [self._lifecycle("response.created", facts), self._lifecycle("response.in_progress", facts)]
        return events if lazy_message else events + self._open_message()

    def reasoning(self, text: str) -> list[bytes]:
        """New reasoning text (opening the reasoning item first if it is not open yet)."""
        events: list[bytes] = []
        if self.thought is None:
            self.thought = []
            item = reasoning_item(self.response_id, "", "in_progress")
            item.summary, item.content = [], []
            added = "response.reasoning_summary_part.added"
            events += [
                self._emit(
                    OutputItemEvent(type="response.output_item.added", output_index=self.items, item=item, **_seq())
                ),
                self._emit(ReasoningSummaryPartEvent(type=added, part=SummaryText(text=""), **self._think())),
            ]
        self.thought.append(text)
        return [*events, self._emit(ReasoningSummaryTextDeltaEvent(delta=text, **self._think()))]

    def _think(self) -> dict[str, Any]:
        return {
            "sequence_number": 0,
            "item_id": reasoning_id(self.response_id),
            "output_index": self.items,
            "summary_index": 0,
        }

    def _close_reasoning(self, status: str = "completed") -> list[bytes]:
        """The reasoning item's done events (once, before the next item opens)."""
        if self.thought is None:
            return []
        text, where = "".join(self.thought), self._think()
        self.thought = None
        self.items += 1
        encrypted = self.seal(text) if self.seal is not None else None
        item = reasoning_item(self.response_id, text, status, encrypted)
        done = "response.reasoning_summary_part.done"
        return [
            self._emit(ReasoningSummaryTextDoneEvent(text=text, **where)),
            self._emit(ReasoningSummaryPartEvent(type=done, part=SummaryText(text=text), **where)),
            self._emit(
                OutputItemEvent(
                    type="response.output_item.done", output_index=where["output_index"], item=item, **_seq()
                )
            ),
        ]

    def _open_message(self) -> list[bytes]:
        if self.message_index is not None:
            return []
        closed = self._close_reasoning()
        self.message_index = self.items
        self.items += 1
        item = mapper.output_message(self.response_id, "", "in_progress")
        return [
            *closed,
            self._emit(
                OutputItemEvent(
                    type="response.output_item.added", sequence_number=0, output_index=self.message_index, item=item
                )
            ),
            self._emit(ContentPartEvent(type="response.content_part.added", part=OutputText(text=""), **self._where())),
        ]

    def delta(self, text: str) -> list[bytes]:
        """New output text (opening the message item first if it is not open yet)."""
        return [*self._open_message(), self._emit(OutputTextDeltaEvent(delta=text, **self._where()))]

    def tool_call(self, chunk: ToolCallChunk) -> list[bytes]:
        """A finished tool call as its own ``function_call`` item (added, arguments, done)."""
        call = ToolCall(chunk.id or "", chunk.name or "", chunk.arguments)
        opened, done = tools.call_items([call], "in_progress")[0], tools.call_items([call])[0]
        opened.arguments = ""
        closed = self._close_reasoning()
        index = self.items
        self.items += 1
        where = {"sequence_number": 0, "item_id": done.id, "output_index": index}
        return [
            *closed,
            self._emit(OutputItemEvent(type="response.output_item.added", output_index=index, item=opened, **_seq())),
            self._emit(FunctionCallArgumentsDeltaEvent(delta=call.arguments, **where)),
            self._emit(FunctionCallArgumentsDoneEvent(arguments=call.arguments, **where)),
            self._emit(OutputItemEvent(type="response.output_item.done", output_index=index, item=done, **_seq())),
        ]

    def closing(self, done: ResponseFacts) -> list[bytes]:
        """The finished text, part and item, then ``response.completed`` (or ``.incomplete``) with the response."""
        choice = done.choice
        text = choice.text if choice else ""
        status = mapper.to_response(done).status
        events: list[bytes] = self._close_reasoning("incomplete" if status == "incomplete" else "completed")
        only_calls = self.message_index is None and choice is not None and bool(choice.tool_calls) and not text
        if not only_calls:  # a response of function calls alone has no message item
            events += self._open_message()
            item = mapper.output_message(self.response_id, text, status)
            index = self._where()["output_index"]
            events += [
                self._emit(OutputTextDoneEvent(text=text, **self._where())),
                self._emit(
                    ContentPartEvent(type="response.content_part.done", part=OutputText(text=text), **self._where())
                ),
                self._emit(OutputItemEvent(type="response.output_item.done", output_index=index, item=item, **_seq())),
            ]
        # openai's ResponseIncompleteEvent and @ai-sdk/xai's stream parser read a
        # cut-off answer from this event, not from a "completed" one with that status.
        events.append(self._lifecycle("response.incomplete" if status == "incomplete" else "response.completed", done))
        return events

    def failed(self, facts: ResponseFacts) -> bytes:
        """``response.failed``: the response with its ``error``."""
        return self._lifecycle("response.failed", facts)


def _seq() -> dict[str, int]:
    """A placeholder sequence number (``_emit`` sets the real one)."""
    return {"sequence_number": 0}

"""The Responses stream: SPEC §5's events, in order, numbered, about one response.

    response.created, response.in_progress, response.output_item.added,
    response.content_part.added, response.output_text.delta × N,
    response.output_text.done, response.content_part.done,
    response.output_item.done, response.completed
    (``response.incomplete`` instead of ``response.completed`` when the
    output was cut at ``max_output_tokens``; ``response.failed`` on failure)

``ResponseEvents`` renders each as an SSE event (``event:`` + ``data:``) with
its ``sequence_number``; no other event types are ever sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from oculi.api.responses import mapper
from oculi.api.responses.mapper import ResponseFacts
from oculi.api.responses.schemas import (
    ContentPartEvent,
    OutputItemEvent,
    OutputText,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
)
from oculi.api.sse import event


class ResponseEvents:
    """Renders the events of one streamed response (see module docstring)."""

    def __init__(self, response_id: str) -> None:
        self.response_id = response_id
        self.item_id = mapper.message_id(response_id)
        self.sequence = 0

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
        return {"sequence_number": 0, "item_id": self.item_id, "output_index": 0, "content_index": 0}

    def opening(self, facts: ResponseFacts) -> list[bytes]:
        """Everything before the first token: created, in progress, an empty message item and part."""
        item = mapper.output_message(self.response_id, "", "in_progress")
        return [
            self._lifecycle("response.created", facts),
            self._lifecycle("response.in_progress", facts),
            self._emit(
                OutputItemEvent(type="response.output_item.added", sequence_number=0, output_index=0, item=item)
            ),
            self._emit(ContentPartEvent(type="response.content_part.added", part=OutputText(text=""), **self._where())),
        ]

    def delta(self, text: str) -> bytes:
        """New output text."""
        return self._emit(OutputTextDeltaEvent(delta=text, **self._where()))

    def closing(self, done: ResponseFacts) -> list[bytes]:
        """The finished text, part and item, then ``response.completed`` (or ``.incomplete``) with the response."""
        text = done.choice.text if done.choice else ""
        status = mapper.to_response(done).status
        item = mapper.output_message(self.response_id, text, status)
        return [
            self._emit(OutputTextDoneEvent(text=text, **self._where())),
            self._emit(
                ContentPartEvent(type="response.content_part.done", part=OutputText(text=text), **self._where())
            ),
            self._emit(OutputItemEvent(type="response.output_item.done", sequence_number=0, output_index=0, item=item)),
            # openai's ResponseIncompleteEvent and @ai-sdk/xai's stream parser read a
            # cut-off answer from this event, not from a "completed" one with that status.
            self._lifecycle("response.incomplete" if status == "incomplete" else "response.completed", done),
        ]

    def failed(self, facts: ResponseFacts) -> bytes:
        """``response.failed``: the response with its ``error``."""
        return self._lifecycle("response.failed", facts)

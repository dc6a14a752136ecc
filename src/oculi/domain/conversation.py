"""The one internal conversation model every wire format translates into.

A conversation is a list of messages; each message has a role and an ordered
list of parts, text and images in any order. Images are still references here
(a data URL, an http(s) URL, ``stored:<sha256>`` for an image the store
already holds, or ``fileid:<file id>`` for a file uploaded through the Files
API); the intake pipeline turns them into pixels. A stored conversation keeps
file references as they are, so a file deleted later is gone for it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from oculi.domain.tools import ToolCall


class Role(StrEnum):
    """Who speaks a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, answering the assistant's call ``tool_call_id``


class Detail(StrEnum):
    """Image detail level (SPEC §3)."""

    AUTO = "auto"
    LOW = "low"
    HIGH = "high"


STORED_PREFIX = "stored:"
FILE_PREFIX = "fileid:"  # not a URL scheme, so it cannot be mistaken for file:// URLs


@dataclass(frozen=True)
class TextPart:
    """A run of text."""

    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image reference: ``data:`` URL, ``http(s)://`` URL, ``stored:<sha256>`` or ``fileid:<file id>``."""

    url: str
    detail: Detail = Detail.AUTO

    @property
    def stored_sha256(self) -> str | None:
        """The content hash when this part refers to an image held by the store."""
        return self.url[len(STORED_PREFIX) :] if self.url.startswith(STORED_PREFIX) else None

    @classmethod
    def stored(cls, sha256: str, detail: Detail) -> ImagePart:
        """A reference to an image the store holds under ``sha256``."""
        return cls(url=STORED_PREFIX + sha256, detail=detail)

    @property
    def file_id(self) -> str | None:
        """The Files API id when this part refers to an uploaded file."""
        return self.url[len(FILE_PREFIX) :] if self.url.startswith(FILE_PREFIX) else None

    @classmethod
    def file(cls, file_id: str, detail: Detail = Detail.AUTO) -> ImagePart:
        """A reference to an uploaded file (resolved, owner-checked, by intake)."""
        return cls(url=FILE_PREFIX + file_id, detail=detail)


Part = TextPart | ImagePart


@dataclass
class Message:
    """One turn of the conversation.

    Assistant turns may carry the ``tool_calls`` the model made and the
    ``reasoning`` it thought before answering (chat templates decide whether
    to show it again); a tool turn answers the call ``tool_call_id`` with its
    text parts.
    """

    role: Role
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    reasoning: str = ""

    @property
    def text(self) -> str:
        """All text parts joined (images left out)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass
class Conversation:
    """An ordered list of messages."""

    messages: list[Message] = field(default_factory=list)

    def images(self) -> list[ImagePart]:
        """Every image part, in order of appearance (this order is the image index)."""
        return [p for m in self.messages for p in m.parts if isinstance(p, ImagePart)]

    def __add__(self, other: Conversation) -> Conversation:
        return Conversation(self.messages + other.messages)

    def continued_by(self, turn: Conversation) -> Conversation:
        """This (stored) conversation followed by a new ``turn``.

        System messages the new turn opens with (Responses ``instructions``, a
        chat system prompt) replace the stored ones and go first, where chat
        templates require them; without any, the stored ones stay.
        """
        leading = 0
        while leading < len(turn.messages) and turn.messages[leading].role is Role.SYSTEM:
            leading += 1
        if not leading:
            return self + turn
        kept = [m for m in self.messages if m.role is not Role.SYSTEM]
        return Conversation(turn.messages[:leading] + kept + turn.messages[leading:])

    def to_dict(self) -> list[dict[str, Any]]:
        """A JSON-able form, used by the store."""
        out: list[dict[str, Any]] = []
        for m in self.messages:
            item: dict[str, Any] = {
                "role": m.role.value,
                "parts": [
                    {"text": p.text} if isinstance(p, TextPart) else {"image": p.url, "detail": p.detail.value}
                    for p in m.parts
                ],
            }
            if m.tool_calls:
                item["tool_calls"] = [c.to_dict() for c in m.tool_calls]
            if m.tool_call_id is not None:
                item["tool_call_id"] = m.tool_call_id
            if m.reasoning:
                item["reasoning"] = m.reasoning
            out.append(item)
        return out

    @classmethod
    def from_dict(cls, data: list[dict[str, Any]]) -> Conversation:
        """Inverse of ``to_dict``."""
        messages = []
        for m in data:
            parts: list[Part] = [
                TextPart(p["text"]) if "text" in p else ImagePart(p["image"], Detail(p["detail"])) for p in m["parts"]
            ]
            calls = [ToolCall.from_dict(c) for c in m.get("tool_calls", [])]
            messages.append(Message(Role(m["role"]), parts, calls, m.get("tool_call_id"), m.get("reasoning", "")))
        return cls(messages)

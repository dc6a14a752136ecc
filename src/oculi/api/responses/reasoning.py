"""Responses ``reasoning`` items, both ways.

Out: a thinking model's reasoning is a ``reasoning`` output item before the
message — its text both as ``summary: [{"type": "summary_text"}]`` (what
xAI's API returns and the AI SDK reads) and as ``content: [{"type":
"reasoning_text"}]`` (openai's raw-reasoning part) — with
``encrypted_content`` (a server-signed blob, ``oculi.reasoning.sealed``) when
the request's ``include`` asks for ``reasoning.encrypted_content``.

In: a ``reasoning`` item in ``input`` (as returned: its ``encrypted_content``
blob, else its ``reasoning_text`` parts) belongs to the assistant turn that
follows it; the chat template decides whether the model sees it again.
"""

from __future__ import annotations

from oculi.api.responses.schemas import InputItem, ReasoningItem, ReasoningText, ResponseCreateRequest, SummaryText
from oculi.domain import Message, Role
from oculi.reasoning.sealed import ReasoningSeal

#: The ``include`` value that asks for the signed reasoning blob.
ENCRYPTED = "reasoning.encrypted_content"


def reasoning_id(response_id: str) -> str:
    """The reasoning item's id (derived, so a stored response renders the same id again)."""
    return f"rs_{response_id}"


def wants_encrypted(request: ResponseCreateRequest) -> bool:
    """Whether the request's ``include`` asks for ``reasoning.encrypted_content``."""
    return ENCRYPTED in (request.include or [])


def reasoning_item(response_id: str, text: str, status: str, encrypted: str | None = None) -> ReasoningItem:
    """The output item of ``text`` (reasoning of response ``response_id``)."""
    return ReasoningItem(
        id=reasoning_id(response_id),
        summary=[SummaryText(text=text)],
        content=[ReasoningText(text=text)],
        encrypted_content=encrypted,
        status=status,  # type: ignore[arg-type]
    )


def input_reasoning(item: InputItem, i: int, seal: ReasoningSeal | None) -> str:
    """The reasoning a ``reasoning`` input item carries (its blob opened and checked: 400 when altered)."""
    if item.encrypted_content:
        return (seal or ReasoningSeal()).open(item.encrypted_content, f"input[{i}].encrypted_content")
    content = item.content if isinstance(item.content, list) else []
    text = "".join(part.text or "" for part in content if part.type == "reasoning_text")
    return text or "".join(part.text or "" for part in item.summary or [] if part.type == "summary_text")


def attach(messages: list[Message], reasoning: str) -> str:
    """Give ``reasoning`` to the assistant turn just added, if one was; what is left to attach."""
    if reasoning and messages and messages[-1].role is Role.ASSISTANT and not messages[-1].reasoning:
        messages[-1].reasoning = reasoning
        return ""
    return reasoning

"""The conversation model: continuing a stored conversation, and the store's JSON form."""

from __future__ import annotations

from oculi.domain import Conversation, Detail, ImagePart, Message, Role, TextPart


def msg(role: Role, text: str) -> Message:
    return Message(role, [TextPart(text)])


STORED = Conversation(
    [
        msg(Role.SYSTEM, "old rules"),
        Message(Role.USER, [ImagePart.stored("ab" * 32, Detail.HIGH), TextPart("what is it?")]),
        msg(Role.ASSISTANT, "a cat"),
    ]
)


def test_a_turn_without_system_messages_is_appended() -> None:
    turn = Conversation([msg(Role.USER, "and its colour?")])
    assert STORED.continued_by(turn).messages == STORED.messages + turn.messages


def test_new_system_messages_replace_the_stored_ones_and_go_first() -> None:
    turn = Conversation([msg(Role.SYSTEM, "new rules"), msg(Role.USER, "and its colour?")])
    merged = STORED.continued_by(turn).messages
    assert [m.role for m in merged] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER]
    assert [m.text for m in merged] == ["new rules", "what is it?", "a cat", "and its colour?"]


def test_json_round_trip_keeps_parts_in_order() -> None:
    again = Conversation.from_dict(STORED.to_dict())
    assert again == STORED
    assert again.images()[0].stored_sha256 == "ab" * 32

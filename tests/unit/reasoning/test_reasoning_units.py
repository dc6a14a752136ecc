"""The reasoning package's pieces on their own: the text split, the token tracker, efforts, formats, the seal."""

from __future__ import annotations

import pytest

from oculi.domain import Delta, FinishReason
from oculi.errors import ConfigurationError, InvalidRequest
from oculi.reasoning import PARSERS, ReasoningCollector, ReasoningFormat, ThinkSplitter, ThinkTracker, plan_thinking
from oculi.reasoning.formats import detect_format
from oculi.reasoning.sealed import ReasoningSeal
from oculi.reasoning.tracker import ThinkTokens

QWEN = ReasoningFormat("qwen3", "<think>", "</think>", opens_in_prompt=True, switchable=True)
KIMI = ReasoningFormat("kimi", *PARSERS["kimi"], opens_in_prompt=True)


def split_all(fmt: ReasoningFormat, pieces: list[str], inside: bool = True) -> tuple[str, str]:
    splitter = ThinkSplitter(fmt, inside)
    reasoning, content = "", ""
    for piece in pieces:
        r, c = splitter.feed(piece)
        reasoning, content = reasoning + r, content + c
    r, c = splitter.finish()
    return reasoning + r, content + c


@pytest.mark.parametrize("cut", range(1, 30))
def test_end_tag_split_anywhere_never_leaks(cut: int) -> None:
    text = "I look closely.\n</think>\n\nA red square."
    assert split_all(QWEN, [text[:cut], text[cut:]]) == ("I look closely.\n", "A red square.")


def test_char_by_char_kimi_tags() -> None:
    text = "hmm◁/think▷answer"
    assert split_all(KIMI, list(text)) == ("hmm", "answer")


def test_unclosed_thinking_is_all_reasoning_and_held_prefix_is_released() -> None:
    assert split_all(QWEN, ["still thinking </thi"]) == ("still thinking </thi", "")


def test_model_that_opens_the_block_itself() -> None:
    assert split_all(QWEN, ["\n<thi", "nk>\nwhy", "</think>so"], inside=False) == ("why", "so")
    assert split_all(QWEN, ["plain ", "answer"], inside=False) == ("", "plain answer")


def test_collector_moves_text_to_reasoning_and_keeps_it() -> None:
    collector = ReasoningCollector(QWEN, inside=True)
    first = collector.delta(Delta(text="a</th"))
    last = collector.delta(Delta(text="ink>b", finish_reason=FinishReason.STOP))
    assert (first.reasoning, first.text, last.reasoning, last.text) == ("a", "", "", "b")
    assert collector.reasoning(0) == "a"


def test_tracker_counts_forces_the_end_tag_and_releases_the_grammar() -> None:
    tokens = ThinkTokens(start=(1,), end=(8, 9))
    tracker = ThinkTracker(tokens, inside=True, budget=5)
    emitted = []
    for sampled in [40, 41, 42, 43, 44, 45]:
        token = tracker.forced()
        token = sampled if token is None else token
        emitted.append(token)
        tracker.advance(token)
    assert emitted == [40, 41, 42, 8, 9, 45]
    assert tracker.count == 5 and not tracker.thinking


def test_tracker_watches_for_a_block_the_model_opens() -> None:
    tracker = ThinkTracker(ThinkTokens((1, 2), (3,)), inside=False)
    for token in (1, 2, 7, 3, 5):
        tracker.advance(token)
    assert tracker.count == 4 and not tracker.thinking
    plain = ThinkTracker(ThinkTokens((1, 2), (3,)), inside=False)
    plain.advance(7)
    assert plain.count == 0 and plain.forced() is None


def test_efforts() -> None:
    assert plan_thinking(QWEN, "none", "m").enabled is False  # type: ignore[union-attr]
    assert plan_thinking(QWEN, "low", "m", {"low": 9}).budget == 9  # type: ignore[union-attr]
    assert plan_thinking(QWEN, "low", "m", {"m:low": 3, "low": 9}).budget == 3  # type: ignore[union-attr]
    assert plan_thinking(None, "high", "m") is None
    with pytest.raises(InvalidRequest, match="always thinks") as info:
        plan_thinking(KIMI, "none", "kimi-vl", param="reasoning.effort")
    assert info.value.param == "reasoning.effort" and "kimi-vl" in info.value.message


def test_detect_format_from_the_rendered_template() -> None:
    def opens(messages: list, **kwargs: object) -> str:
        return "<|im_start|>assistant\n<think>\n"

    def plain(messages: list, **kwargs: object) -> str:
        return "<|im_start|>assistant\n"

    fmt = detect_format("{{ '<think>' }} enable_thinking", opens)
    assert fmt is not None and fmt.parser == "qwen3" and fmt.opens_in_prompt and fmt.switchable
    assert detect_format("plain", plain) is None
    assert detect_format("{{ '<think>' }}", opens, "none") is None
    named = detect_format("plain", plain, "kimi")
    assert named is not None and named.start == "◁think▷" and not named.opens_in_prompt
    with pytest.raises(ConfigurationError):
        detect_format("plain", plain, "gpt9")


def test_seal_round_trip_and_tamper() -> None:
    seal = ReasoningSeal("secret")
    blob = seal.seal("I considered the sky.", "m")
    assert seal.open(blob, "p") == "I considered the sky."
    assert ReasoningSeal("secret").open(blob, "p") == "I considered the sky."  # replicas sharing the secret
    for bad in (blob[:-2] + "xx", "x" + blob, "garbage", ""):
        with pytest.raises(InvalidRequest) as info:
            seal.open(bad, "input[1].encrypted_content")
        assert info.value.param == "input[1].encrypted_content"
    with pytest.raises(InvalidRequest):
        ReasoningSeal("other").open(blob, "p")


def test_assistant_reasoning_is_stored_and_handed_to_the_template() -> None:
    from oculi.domain import Choice, Conversation, Message, Role, TextPart
    from oculi.engines.common.template import template_messages

    turn = Message(Role.ASSISTANT, [TextPart("Blue.")], reasoning="The sky scatters short waves.")
    conversation = Conversation([Message(Role.USER, [TextPart("Why?")]), turn])
    assert Conversation.from_dict(conversation.to_dict()).messages[1].reasoning == turn.reasoning
    assert template_messages(conversation)[1]["reasoning_content"] == turn.reasoning
    assert "reasoning_content" not in template_messages(conversation)[0]
    choice = Choice(0, "Blue.", FinishReason.STOP, reasoning="thought")
    assert Choice.from_dict(choice.to_dict()).reasoning == "thought"

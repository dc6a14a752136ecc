"""Streaming text of the llama.cpp engine: UTF-8 reassembly across tokens and stop sequences."""

from __future__ import annotations

from oculi.engines.llamacpp.text import TextStream


def feed(stream: TextStream, pieces: list[bytes]) -> str:
    return "".join(stream.push(p) for p in pieces)


def test_text_without_stop_passes_through_at_once():
    stream = TextStream([])
    assert stream.push(b"Hello") == "Hello"
    assert stream.push(b" world") == " world"
    assert stream.flush() == ""


def test_multibyte_character_split_across_tokens_is_emitted_whole():
    data = "héllo 🦙".encode()
    stream = TextStream([])
    out = [stream.push(data[i : i + 1]) for i in range(len(data))]
    assert "".join(out) + stream.flush() == "héllo 🦙"
    assert all("\ufffd" not in piece for piece in out)


def test_stop_sequence_spanning_tokens_is_cut_and_never_emitted():
    stream = TextStream(["END"])
    emitted = feed(stream, [b"abc E", b"N", b"D tail"])
    assert emitted == "abc "
    assert stream.stopped
    assert stream.push(b"more") == ""
    assert stream.flush() == ""


def test_partial_stop_prefix_is_held_then_released_when_it_diverges():
    stream = TextStream(["STOP"])
    assert stream.push(b"go ST") == "go "
    assert stream.push(b"x") == "STx"
    assert not stream.stopped


def test_held_prefix_is_flushed_when_generation_ends_otherwise():
    stream = TextStream(["###"])
    assert stream.push(b"value ##") == "value "
    assert stream.flush() == "##"


def test_earliest_of_several_stops_wins():
    stream = TextStream(["b", "zz"])
    assert stream.push(b"azzb") == "a"
    assert stream.stopped

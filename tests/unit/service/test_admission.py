"""The admission budgets: requests, encoded image bytes, decoded memory (429 busy, 413 never fits), text bound."""

from __future__ import annotations

import pytest

from oculi.domain import ImagePart
from oculi.errors import InvalidRequest, Overloaded, PayloadTooLarge
from oculi.intake.cost import decoded_cost
from oculi.metrics import Metrics
from oculi.service.admission import TEXT_BYTES_PER_CHAR, Admission, check_text_length

MiB = 1024 * 1024


def admission(decoded: int = 100 * MiB) -> Admission:
    return Admission(4, 64 * MiB, 20 * MiB, Metrics(), max_decoded_bytes=decoded)


def test_decoded_memory_is_charged_and_released() -> None:
    gate = admission()
    first = gate.admit([])
    gate.charge(first, 60 * MiB)
    second = gate.admit([])
    with pytest.raises(Overloaded) as busy:
        gate.charge(second, 60 * MiB)  # fits alone, not next to the first
    assert busy.value.http_headers()["retry-after"] == "1"
    gate.release(first)
    gate.charge(second, 60 * MiB)
    assert gate.decoded_bytes == 60 * MiB
    gate.release(second)
    gate.release(second)  # idempotent
    assert (gate.active, gate.decoded_bytes) == (0, 0)


def test_a_request_larger_than_the_whole_budget_is_413() -> None:
    gate = admission()
    ticket = gate.admit([])
    gate.charge(ticket, 80 * MiB)
    with pytest.raises(PayloadTooLarge, match="fewer or smaller images"):
        gate.charge(ticket, 30 * MiB)
    with pytest.raises(PayloadTooLarge, match="Shorten the text"):
        gate.admit([], text_chars=(100 * MiB) // TEXT_BYTES_PER_CHAR + 1)


def test_zero_budget_means_unlimited() -> None:
    gate = admission(decoded=0)
    ticket = gate.admit([ImagePart("data:image/png;base64,AAAA")], text_chars=10**9)
    gate.charge(ticket, 10**12)
    gate.release(ticket)


def test_decoded_cost_counts_pixels_views_and_the_kept_image() -> None:
    assert decoded_cost(1000, 1, 0, 448, 0) == 8000
    assert decoded_cost(10, 10, 7, 448, 100) == 800 + 7 * 448 * 448 * 24 + 300


def test_text_is_bounded_by_the_context_before_tokenizing() -> None:
    check_text_length(32 * 1000, 1000, "messages")
    with pytest.raises(InvalidRequest, match="32001 characters") as refused:
        check_text_length(32 * 1000 + 1, 1000, "input")
    assert refused.value.param == "input"

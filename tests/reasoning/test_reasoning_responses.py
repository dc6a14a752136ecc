"""The Responses API of a thinking model, read with the official ``openai`` client: items, events, round trips."""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai import OpenAI
from reasoning_support import BUDGET, KEY, picture_url

from oculi.testing.server import ServerProcess


@pytest.fixture
def client(thinking_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=thinking_server.v1, api_key=KEY, max_retries=0)


def ask(text: str = "Describe the picture.") -> list:
    return [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": text}, {"type": "input_image", "image_url": picture_url()}],
        }
    ]


def test_reasoning_item_comes_before_the_message(client: OpenAI) -> None:
    out = client.responses.create(
        model="grok-4", input=ask(), max_output_tokens=24, temperature=0, reasoning={"effort": "low"}
    )
    assert [item.type for item in out.output] == ["reasoning", "message"]
    reasoning = out.output[0]
    assert reasoning.content and reasoning.content[0].type == "reasoning_text"
    assert reasoning.content[0].text and "</think>" not in reasoning.content[0].text
    assert [(s.type, s.text) for s in reasoning.summary] == [("summary_text", reasoning.content[0].text)]
    assert reasoning.encrypted_content is None
    assert out.output_text and "<think>" not in out.output_text
    assert out.usage is not None and out.usage.output_tokens_details.reasoning_tokens == BUDGET


def test_stream_events_are_the_openai_reasoning_events(client: OpenAI) -> None:
    kinds: list[str] = []
    deltas: list[str] = []
    with client.responses.stream(
        model="grok-4", input=ask(), max_output_tokens=24, temperature=0, reasoning={"effort": "low"}
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.reasoning_summary_text.delta":
                deltas.append(event.delta)
    final = event.response  # response.incomplete: cut at max_output_tokens (get_final_response wants "completed")
    first_text = kinds.index("response.output_text.delta")
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ]
    closing = kinds.index("response.reasoning_summary_text.done")
    assert kinds[closing : closing + 3] == [
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert closing < first_text
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert "".join(deltas) == final.output[0].content[0].text  # type: ignore[union-attr,index]
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == BUDGET


def test_stream_cut_inside_thinking_is_incomplete_with_no_text(client: OpenAI) -> None:
    with client.responses.stream(model="grok-4", input=ask(), max_output_tokens=6, temperature=0) as stream:
        events = list(stream)
    kinds = [event.type for event in events]
    assert "response.output_text.delta" not in kinds
    assert kinds[-1] == "response.incomplete"
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output[0].type == "reasoning"
    assert final.output_text == ""
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 6


def test_encrypted_reasoning_round_trip_and_tampering(client: OpenAI) -> None:
    first = client.responses.create(
        model="grok-4",
        input=ask(),
        max_output_tokens=16,
        temperature=0,
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
        store=False,
    )
    item = first.output[0]
    assert item.type == "reasoning" and item.encrypted_content
    follow = [
        *ask(),
        item.model_dump(exclude_none=True),
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "And the colours?"},
    ]
    again = client.responses.create(model="grok-4", input=follow, max_output_tokens=4, temperature=0)
    assert again.status == "incomplete"
    blob = item.encrypted_content
    tampered = {
        **item.model_dump(exclude_none=True),
        "encrypted_content": blob[:-3] + ("A" if blob[-3] != "A" else "B") + blob[-2:],
    }
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="grok-4", input=[*ask(), tampered, *follow[2:]], max_output_tokens=4)
    assert info.value.response.json()["param"] == "input[1].encrypted_content"


def test_stored_response_fetched_with_include_carries_the_signed_blob(client: OpenAI) -> None:
    first = client.responses.create(
        model="grok-4",
        input=ask(),
        max_output_tokens=16,
        temperature=0,
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
    )
    live = first.output[0]
    assert live.type == "reasoning" and live.encrypted_content
    assert client.responses.retrieve(first.id).output[0].encrypted_content is None  # not asked for
    fetched = client.responses.retrieve(first.id, include=["reasoning.encrypted_content"]).output[0]
    assert fetched.type == "reasoning" and fetched.encrypted_content == live.encrypted_content
    follow = [
        *ask(),
        fetched.model_dump(exclude_none=True),
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "And the colours?"},
    ]
    assert client.responses.create(model="grok-4", input=follow, max_output_tokens=4, temperature=0).output


def test_batch_line_with_a_signed_blob_is_verified_like_a_live_request(client: OpenAI) -> None:
    first = client.responses.create(
        model="grok-4",
        input=ask(),
        max_output_tokens=16,
        temperature=0,
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
        store=False,
    )
    item = first.output[0].model_dump(exclude_none=True)
    blob = item["encrypted_content"]
    tampered = {**item, "encrypted_content": blob[:-3] + ("A" if blob[-3] != "A" else "B") + blob[-2:]}
    rest = [{"role": "assistant", "content": first.output_text}, {"role": "user", "content": "And the colours?"}]
    lines = [
        {
            "custom_id": name,
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "grok-4", "input": [*ask(), reasoning, *rest], "max_output_tokens": 4, "temperature": 0},
        }
        for name, reasoning in (("signed", item), ("tampered", tampered))
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    upload = client.files.create(file=("reasoning.jsonl", data), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h")
    deadline = time.monotonic() + 120
    while (batch := client.batches.retrieve(batch.id)).status not in ("completed", "failed", "expired"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.5)
    assert batch.request_counts is not None and (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert batch.output_file_id and batch.error_file_id
    [ok] = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert ok["custom_id"] == "signed" and ok["response"]["status_code"] == 200
    [bad] = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert bad["custom_id"] == "tampered"
    # Refused naming the altered blob, as a live request is.
    assert bad["response"]["status_code"] == 400 and bad["response"]["body"]["param"] == "input[1].encrypted_content"


def test_stored_response_keeps_reasoning_and_continues(client: OpenAI) -> None:
    first = client.responses.create(
        model="grok-4", input=ask(), max_output_tokens=16, temperature=0, reasoning={"effort": "low"}
    )
    stored = client.responses.retrieve(first.id)
    assert stored.output[0].type == "reasoning"
    assert stored.output[0].content == first.output[0].content  # type: ignore[union-attr]
    follow = client.responses.create(
        model="grok-4", previous_response_id=first.id, input="And the colours?", max_output_tokens=4, temperature=0
    )
    # The template drops earlier turns' thinking: the continued prompt is the same with or without it.
    assert follow.output[0].type == "reasoning"
    assert follow.usage is not None and follow.usage.input_tokens > first.usage.input_tokens  # type: ignore[union-attr]


def test_effort_none_on_responses_answers_without_reasoning(client: OpenAI) -> None:
    out = client.responses.create(
        model="grok-4", input=ask(), max_output_tokens=6, temperature=0, reasoning={"effort": "none"}
    )
    assert [item.type for item in out.output] == ["message"]
    assert out.output_text

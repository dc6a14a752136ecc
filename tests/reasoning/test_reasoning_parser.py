"""``--reasoning-parser``: naming the parser, and ``none`` turning the split off."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from reasoning_support import KEY

from oculi.testing.server import running_server


def test_a_named_parser_on_a_template_without_the_switch(tiny_internvl: Path) -> None:
    """InternVL's plain ChatML has no ``enable_thinking``: it is a thinking model by flag, and cannot stop."""
    env = {"OCULI_THREADS": "2", "OCULI_REASONING_PARSER": "deepseek_r1"}
    with running_server(models=[str(tiny_internvl)], api_keys=[KEY], grpc=False, env=env) as server:
        listed = httpx.get(server.v1 + "/models", headers={"authorization": f"Bearer {KEY}"}).json()
        model = listed["data"][0]
        assert model["reasoning"] == {"parser": "deepseek_r1", "can_disable": False}
        client = OpenAI(base_url=server.v1, api_key=KEY, max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}], max_tokens=2, reasoning_effort="none"
            )
        body = info.value.response.json()
        assert body["param"] == "reasoning_effort" and model["id"] in body["error"]
        # The prompt does not open a think block: an answer that does not open one itself is all content.
        out = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}], max_tokens=6, temperature=0
        )
        assert out.choices[0].message.content and getattr(out.choices[0].message, "reasoning_content", None) is None


def test_parser_none_leaves_the_text_alone(tiny_thinking: Path) -> None:
    env = {"OCULI_THREADS": "2", "OCULI_REASONING_PARSER": "none"}
    with running_server(models=[str(tiny_thinking)], api_keys=[KEY], grpc=False, env=env) as server:
        listed = httpx.get(server.v1 + "/models", headers={"authorization": f"Bearer {KEY}"}).json()
        assert listed["data"][0]["reasoning"] is None
        client = OpenAI(base_url=server.v1, api_key=KEY, max_retries=0)
        out = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}], max_tokens=6, temperature=0
        )
        assert out.choices[0].message.content
        assert out.usage is not None and out.usage.completion_tokens_details.reasoning_tokens == 0


def test_an_unknown_parser_stops_the_server(tiny_thinking: Path) -> None:
    env = {"OCULI_REASONING_PARSER": "gpt9"}
    with (
        pytest.raises(RuntimeError) as info,
        running_server(models=[str(tiny_thinking)], grpc=False, env=env, startup_timeout=120),
    ):
        pass
    assert "Unknown reasoning parser 'gpt9'" in str(info.value)

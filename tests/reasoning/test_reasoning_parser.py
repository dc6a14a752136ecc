"""``--reasoning-parser``: naming the parser, ``none`` turning the split off, an unknown name refused.

Configuration, so the app runs in this process (``servers.app_client``) with the real engine
loaded from the tiny checkpoints, and the official ``openai`` client (async) talks to it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from reasoning_support import KEY
from servers import app_client

from oculi.engines.registry import EngineRegistry
from oculi.errors import ConfigurationError
from oculi.settings import Settings

HI = [{"role": "user", "content": "hi"}]


def settings(checkpoint: Path, parser: str) -> Settings:
    return Settings(models=[str(checkpoint)], api_keys=[KEY], reasoning_parser=parser, threads=2, offline=True)


def openai_on(client: httpx.AsyncClient) -> AsyncOpenAI:
    return AsyncOpenAI(base_url="http://oculi/v1", api_key=KEY, max_retries=0, http_client=client)


async def test_a_named_parser_on_a_template_without_the_switch(tiny_internvl: Path, tmp_path: Path) -> None:
    """InternVL's plain ChatML has no ``enable_thinking``: it is a thinking model by flag, and cannot stop."""
    config = settings(tiny_internvl, "deepseek_r1").model_copy(update={"store_url": f"sqlite:///{tmp_path}/o.db"})
    async with app_client(config) as http:
        listed = (await http.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})).json()
        model = listed["data"][0]
        assert model["reasoning"] == {"parser": "deepseek_r1", "can_disable": False}
        client = openai_on(http)
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="grok-4", messages=HI, max_tokens=2, reasoning_effort="none")
        body = info.value.response.json()
        assert body["param"] == "reasoning_effort" and model["id"] in body["error"]
        # The prompt does not open a think block: an answer that does not open one itself is all content.
        out = await client.chat.completions.create(model="grok-4", messages=HI, max_tokens=6, temperature=0)
        assert out.choices[0].message.content and getattr(out.choices[0].message, "reasoning_content", None) is None


async def test_parser_none_leaves_the_text_alone(tiny_thinking: Path, tmp_path: Path) -> None:
    config = settings(tiny_thinking, "none").model_copy(update={"store_url": f"sqlite:///{tmp_path}/o.db"})
    async with app_client(config) as http:
        listed = (await http.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})).json()
        assert listed["data"][0]["reasoning"] is None
        out = await openai_on(http).chat.completions.create(model="grok-4", messages=HI, max_tokens=6, temperature=0)
        assert out.choices[0].message.content
        assert out.usage is not None and out.usage.completion_tokens_details.reasoning_tokens == 0


def test_an_unknown_parser_stops_the_server(tiny_thinking: Path) -> None:
    with pytest.raises(ConfigurationError, match="Unknown reasoning parser 'gpt9'"):
        EngineRegistry.load(settings(tiny_thinking, "gpt9"))

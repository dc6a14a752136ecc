"""A scripted engine: behaviours a real model cannot be made to show on demand.

Only for tests of what happens around an engine — failing mid-stream, a slow
stream a client walks away from, a known number of tokens. Happy paths are
tested with the tiny real checkpoint instead.

The behaviour is chosen per request by directives in the last user message:

- ``[[tokens:N]]``   answer with N words (default 8)
- ``[[delay:S]]``    sleep S seconds before each word (default 0)
- ``[[fail-after:K]]`` raise ``RuntimeError`` after K words (a bug mid-stream)

Usage is honest about its inputs: prompt text tokens are whitespace words,
image tokens are the intake's SPEC §3 counts. Every cancellation is logged
(``scripted engine: <request id> cancelled after K tokens``) so a test
running the server as a subprocess can see the engine saw it.

``python -m oculi.testing.scripted`` serves this engine with settings from the
``OCULI_*`` environment (see ``oculi.testing.server``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator

from oculi.domain import Delta, FinishReason, Role, Usage
from oculi.engines.base import EngineRequest, ModelInfo, Token
from oculi.intake.types import PixelSpec

log = logging.getLogger(__name__)

SCRIPTED_MODEL = "oculi-scripted"
_DIRECTIVE = re.compile(r"\[\[(tokens|delay|fail-after):([0-9.]+)\]\]")


class ScriptedEngine:
    """See module docstring. Counts what it saw: ``started``, ``cancelled``, ``finished``."""

    def __init__(self, model_id: str = SCRIPTED_MODEL, context_length: int = 32768) -> None:
        self._info = ModelInfo(
            id=model_id, architecture="scripted", context_length=context_length, created=int(time.time())
        )
        self.started = 0
        self.cancelled = 0
        self.finished = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def pixel_spec(self) -> PixelSpec:
        # No pixels needed: the answer does not look at them.
        return PixelSpec(tiles=False)

    def tokenize(self, text: str) -> list[Token]:
        return [Token(i, word) for i, word in enumerate(text.split())]

    async def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        users = [m for m in request.conversation.messages if m.role is Role.USER]
        directives = dict(_DIRECTIVE.findall(users[-1].text if users else ""))
        words = int(float(directives.get("tokens", 8)))
        delay = float(directives.get("delay", 0))
        fail_after = int(float(directives["fail-after"])) if "fail-after" in directives else None
        if request.params.max_tokens is not None:
            words = min(words, request.params.max_tokens)
        prompt_text = sum(len(m.text.split()) for m in request.conversation.messages)
        usage = Usage(prompt_text_tokens=prompt_text, prompt_image_tokens=sum(i.image_tokens for i in request.images))
        self.started += 1
        sent = 0
        yield Delta(usage=dataclasses.replace(usage))  # the prompt counts, before any token
        try:
            for index in range(request.params.n):
                for k in range(words):
                    if fail_after is not None and sent >= fail_after:
                        raise RuntimeError("scripted failure mid-stream")
                    if delay:
                        await asyncio.sleep(delay)
                    sent += 1
                    last = k == words - 1
                    reason = None
                    if last:
                        capped = request.params.max_tokens is not None and words == request.params.max_tokens
                        reason = FinishReason.LENGTH if capped else FinishReason.STOP
                    yield Delta(index=index, text=f"word{k}" + ("" if last else " "), finish_reason=reason)
            usage.completion_tokens = sent
            self.finished += 1
            yield Delta(index=request.params.n - 1, usage=usage)
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            log.info("scripted engine: %s cancelled after %d tokens", request.request_id, sent)
            raise

    async def close(self) -> None:
        return None


def main() -> None:
    """Serve the scripted engine (env-configured, like ``python -m oculi.server``)."""
    from oculi.engines.registry import EngineRegistry
    from oculi.server import serve
    from oculi.settings import Settings

    settings = Settings()
    asyncio.run(serve(settings, registry=EngineRegistry([ScriptedEngine()], settings.aliases)))


if __name__ == "__main__":
    main()

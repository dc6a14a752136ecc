"""Think-tag conventions by parser name, and recognising a thinking model from its chat template.

Parser names are those vLLM's and SGLang's ``--reasoning-parser`` take, so a
deployment moves over with the same flag: ``qwen3``, ``deepseek_r1`` and
``glm45`` write ``<think>…</think>``; ``kimi`` writes ``◁think▷…◁/think▷``;
``gemma4`` writes ``<|channel>thought\\n…<channel|>`` (special tokens, which
the engines keep in the text they split).
``none`` turns the split off.

Without a configured parser a model thinks when its chat template says so:
the generation prompt opens the think block (Qwen3 *Thinking*, GLM-4.1V/4.5V,
InternVL3.5 in thinking mode), or the template has the ``enable_thinking``
switch (Qwen3 hybrids). The template's own render decides, not the model's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oculi.errors import ConfigurationError


@dataclass(frozen=True)
class ReasoningFormat:
    """How one model thinks: its tags, whether its prompt opens the block, whether it can be turned off.

    ``opens_in_prompt``: the generation prompt (thinking on) already wrote the
    start tag, so the output begins inside the thinking. ``switchable``: the
    template honours ``enable_thinking=false`` (``reasoning_effort: none``).
    """

    parser: str
    start: str
    end: str
    opens_in_prompt: bool = False
    switchable: bool = False


#: Tags by parser name (vLLM / SGLang names).
PARSERS: dict[str, tuple[str, str]] = {
    "qwen3": ("<think>", "</think>"),
    "deepseek_r1": ("<think>", "</think>"),
    "glm45": ("<think>", "</think>"),
    "kimi": ("◁think▷", "◁/think▷"),
    # Gemma 4: the channel opens with its role label ``thought``; the splitter drops the newline after it.
    "gemma4": ("<|channel>thought", "<channel|>"),
}

#: A one-turn conversation to render the generation prompt with.
_PROBE = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def check_parser(name: str | None) -> None:
    """A configured parser name must be known (or ``none`` / unset)."""
    if name is not None and name != "none" and name not in PARSERS:
        raise ConfigurationError(
            f"Unknown reasoning parser {name!r}; use one of {', '.join(sorted(PARSERS))}, or none to turn it off."
        )


def detect_format(template: str, render: Callable[..., str], parser: str | None = None) -> ReasoningFormat | None:
    """The reasoning format of a model whose chat template source is ``template``.

    ``render(messages, **template_kwargs)`` renders the template with the
    generation prompt. ``parser``: the configured name (None: recognise it
    from the template; ``none``: no split). None when the model does not think.
    """
    check_parser(parser)
    if parser == "none":
        return None
    name = parser or _by_tags(template)
    start, end = PARSERS[name]
    opens = _opens(render, start)
    switchable = "enable_thinking" in template
    if parser is None and not opens and not switchable:
        return None
    return ReasoningFormat(name, start, end, opens_in_prompt=opens, switchable=switchable)


def _by_tags(template: str) -> str:
    """The parser whose start tag the template writes (Kimi's, Gemma 4's channel), else ``qwen3``."""
    if PARSERS["kimi"][0] in template:
        return "kimi"
    if "<|channel>" in template or "<|think|>" in template:
        return "gemma4"
    return "qwen3"


def _opens(render: Callable[..., str], start: str) -> bool:
    try:
        text = render(_PROBE)
    except Exception:  # a template that cannot render the probe says nothing about thinking
        return False
    return text.rstrip().endswith(start)


def template_switch(fmt: ReasoningFormat | None, enabled: bool) -> dict[str, bool]:
    """The chat-template arguments that turn thinking on or off (none for templates without the switch)."""
    return {"enable_thinking": enabled} if fmt is not None and fmt.switchable else {}

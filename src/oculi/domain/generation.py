"""Sampling parameters, streamed deltas, finish reasons and usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from oculi.domain.tools import ToolCall, ToolCallChunk


class FinishReason(StrEnum):
    """Why a choice stopped."""

    STOP = "stop"  # end-of-sequence token or a stop sequence
    LENGTH = "length"  # max tokens or context length reached
    TOOL_CALLS = "tool_calls"  # the turn ends with tool calls for the caller to run
    CANCELLED = "cancelled"  # the caller went away
    ERROR = "error"  # the engine failed mid-generation


@dataclass
class GenerationParams:
    """Sampling parameters, wire-neutral. ``max_tokens=None`` means up to the context length."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int = 1
    #: ``reasoning_effort`` as sent (``none`` / ``low`` / ``medium`` / ``high`` ...); None: the model's default.
    reasoning_effort: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
            "n": self.n,
        }
        if self.reasoning_effort is not None:
            data["reasoning_effort"] = self.reasoning_effort
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        return cls(**data)


@dataclass(frozen=True)
class ImageDetailUsage:
    """The level one image of the prompt was fed at, why (SPEC §3 ``auto`` policies), and its image tokens."""

    detail: str  # "low" or "high"
    reason: str  # oculi.intake.detail.Reason: "requested", "small text or fine detail", ...
    image_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "reason": self.reason, "image_tokens": self.image_tokens}


@dataclass
class Usage:
    """Token accounting. ``prompt_tokens`` = text (incl. template) + image tokens.

    ``image_details``: per image of the prompt, in order, the level chosen and
    why (set by the pipeline from intake's decisions; engines leave it empty).
    """

    prompt_text_tokens: int = 0
    prompt_image_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    #: Of ``completion_tokens``, those spent thinking (the think block, its closing tag included).
    reasoning_tokens: int = 0
    image_details: tuple[ImageDetailUsage, ...] = ()

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_text_tokens + self.prompt_image_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "prompt_text_tokens": self.prompt_text_tokens,
            "prompt_image_tokens": self.prompt_image_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }
        if self.image_details:
            data["image_details"] = [d.to_dict() for d in self.image_details]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        details = tuple(ImageDetailUsage(**d) for d in data.get("image_details", ()))
        return cls(**{k: v for k, v in data.items() if k != "image_details"}, image_details=details)


@dataclass
class Delta:
    """One step of an engine's output stream.

    ``text`` is new text for choice ``index``. A choice's last delta sets
    ``finish_reason``. ``usage``, where set, is the usage so far: the stream's
    first delta carries the prompt counts (``completion_tokens`` 0, so streams
    can report image tokens from their first chunk, as xAI does), and its very
    last delta carries the final usage (it may also carry text and a finish reason).
    ``tool_calls`` are pieces of the choice's tool calls (engines never set
    them: the pipeline parses them out of the text, see ``oculi.structured``).
    ``reasoning`` is new thinking text (engines never set it either: the
    pipeline splits a thinking model's text, see ``oculi.reasoning``).
    """

    index: int = 0
    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCallChunk] = field(default_factory=list)
    reasoning: str = ""

    @property
    def is_output(self) -> bool:
        """Whether this delta produces output (text, reasoning, tool calls or a finish), not only usage."""
        return bool(self.text) or bool(self.reasoning) or bool(self.tool_calls) or self.finish_reason is not None


@dataclass
class Choice:
    """The finished text of one choice, the tool calls it made and its reasoning (thinking models)."""

    index: int
    text: str
    finish_reason: FinishReason
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "text": self.text, "finish_reason": self.finish_reason.value}
        if self.tool_calls:
            data["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.reasoning:
            data["reasoning"] = self.reasoning
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Choice:
        calls = [ToolCall.from_dict(c) for c in data.get("tool_calls", [])]
        return cls(data["index"], data["text"], FinishReason(data["finish_reason"]), calls, data.get("reasoning", ""))


@dataclass
class Completion:
    """A finished generation: what every wire surface renders and the store keeps."""

    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: Usage

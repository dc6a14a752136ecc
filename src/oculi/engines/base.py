"""The engine interface the API layers call without knowing which engine runs.

An engine turns a conversation (text parts plus images already taken in by
``oculi.intake``) and sampling parameters into an async stream of ``Delta``s.
Every model quirk lives in the engine adapter that implements this protocol.
An engine that can stop working while the server runs (vLLM's engine process)
may also have a ``problem`` property (a message, or None while it serves);
``/health`` reports it with a 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from oculi.domain import Conversation, Delta, GenerationParams
from oculi.errors import InvalidRequest
from oculi.intake.types import PixelSpec, PreparedImage
from oculi.reasoning.effort import ThinkingPlan
from oculi.reasoning.formats import ReasoningFormat
from oculi.structured.grammar import OutputPlan


@dataclass(frozen=True)
class ModelInfo:
    """What the models endpoints report about a served model."""

    id: str
    architecture: str
    context_length: int
    created: int
    owned_by: str = "oculi"
    parameters: int | None = None
    dtype: str | None = None
    device: str | None = None
    input_modalities: tuple[str, ...] = ("text", "image")
    output_modalities: tuple[str, ...] = ("text",)
    structured_output: bool = False  # decodes under a grammar (response formats, tool calls)
    reasoning: ReasoningFormat | None = None  # a thinking model: its tags (the pipeline splits its text)


@dataclass(frozen=True)
class Token:
    """One token of a tokenization: its id and its text."""

    id: int
    text: str


@dataclass
class EngineRequest:
    """One generation: the conversation, its images in order of appearance, and sampling.

    ``images[i]`` is the prepared form of ``conversation.images()[i]``.
    ``output``: the grammar to decode under and the tools to show the model
    (only sent to engines whose ``ModelInfo.structured_output`` is true).
    ``thinking`` (thinking models only): render the template with thinking on
    or off, end the thinking when its budget is spent, apply the grammar only
    after it, and report the reasoning tokens in ``Usage.reasoning_tokens``.
    """

    request_id: str
    conversation: Conversation
    images: Sequence[PreparedImage]
    params: GenerationParams = field(default_factory=GenerationParams)
    output: OutputPlan = field(default_factory=OutputPlan)
    thinking: ThinkingPlan | None = None


@runtime_checkable
class Engine(Protocol):
    """A loaded model that generates text from text + images.

    Contract of ``generate``:
    - Validation (context length → ``ContextLengthExceeded``) happens before
      the first delta is yielded.
    - For each of ``params.n`` choices, deltas with ``index`` = the choice; the
      last delta of a choice sets ``finish_reason``.
    - The final delta of the stream carries ``usage`` (prompt tokens counted
      once, completion tokens summed over choices).
    - Closing the iterator early (``aclose()`` / task cancellation, e.g. the
      client disconnected) stops generation and frees the engine's slot.
    """

    @property
    def info(self) -> ModelInfo:
        """Static facts about the model."""
        ...

    @property
    def pixel_spec(self) -> PixelSpec:
        """What intake must produce for this engine's images."""
        ...

    def tokenize(self, text: str) -> list[Token]:
        """Tokenize plain text with the model's tokenizer (no template)."""
        ...

    def generate(self, request: EngineRequest) -> AsyncIterator[Delta]:
        """Stream the answer (see the class docstring for the contract)."""
        ...

    async def close(self) -> None:
        """Release the model (threads, memory)."""
        ...


def check_params(params: GenerationParams) -> None:
    """Sampling parameters every engine can honour; the pipeline checks the same with each surface's
    field names, this guards an engine driven directly (the CLI, benchmarks, tests)."""
    if params.n < 1:
        raise InvalidRequest(f"n must be at least 1, got {params.n}.", param="n")
    if params.max_tokens is not None and params.max_tokens < 1:
        raise InvalidRequest(f"max_tokens must be at least 1, got {params.max_tokens}.", param="max_tokens")
    if params.temperature < 0:
        raise InvalidRequest(f"temperature must be 0 or more, got {params.temperature}.", param="temperature")
    if not 0 < params.top_p <= 1:
        raise InvalidRequest(f"top_p must be in (0, 1], got {params.top_p}.", param="top_p")

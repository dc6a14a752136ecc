"""Engines (``ModelInfo``) → model listing entries."""

from __future__ import annotations

import hashlib

from oculi.api.models.schemas import LanguageModelEntry, ModelEntry, ReasoningEntry
from oculi.engines.base import ModelInfo

#: What the default model answers to besides its configured aliases (see ``engines.registry``).
DEFAULT_ALIAS_NOTE = "grok-*"


def to_model_entry(info: ModelInfo) -> ModelEntry:
    """OpenAI shape."""
    return ModelEntry(id=info.id, created=info.created, owned_by=info.owned_by, reasoning=to_reasoning(info))


def to_reasoning(info: ModelInfo) -> ReasoningEntry | None:
    """What the listings say about a thinking model (None for one that does not think)."""
    fmt = info.reasoning
    return ReasoningEntry(parser=fmt.parser, can_disable=fmt.switchable) if fmt is not None else None


def to_language_model(info: ModelInfo, aliases: list[str]) -> LanguageModelEntry:
    """xAI shape; the fingerprint identifies the model id and architecture."""
    fingerprint = "fp_" + hashlib.sha256(f"{info.id}|{info.architecture}".encode()).hexdigest()[:10]
    return LanguageModelEntry(
        id=info.id,
        fingerprint=fingerprint,
        created=info.created,
        owned_by=info.owned_by,
        version="1.0",
        input_modalities=list(info.input_modalities),
        output_modalities=list(info.output_modalities),
        aliases=aliases,
        max_prompt_length=info.context_length,
        architecture=info.architecture,
        reasoning=to_reasoning(info),
    )

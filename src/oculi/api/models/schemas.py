"""Wire schemas of the model listings (OpenAI ``/v1/models``, xAI ``/v1/language-models``) and ``/v1/api-key``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ReasoningEntry(BaseModel):
    """How a thinking model thinks: its ``parser`` (tags) and whether ``reasoning_effort: none`` turns it off."""

    parser: str
    can_disable: bool


class ModelEntry(BaseModel):
    """One model, OpenAI shape (``reasoning`` set for a thinking model, else null)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    reasoning: ReasoningEntry | None = None


class ModelListResponse(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelEntry]


class LanguageModelEntry(BaseModel):
    """One model, xAI shape (prices are zero: it runs on your machine)."""

    id: str
    fingerprint: str
    created: int
    object: Literal["model"] = "model"
    owned_by: str
    version: str
    input_modalities: list[str]
    output_modalities: list[str]
    prompt_text_token_price: int = 0
    cached_prompt_text_token_price: int = 0
    prompt_image_token_price: int = 0
    completion_text_token_price: int = 0
    search_price: int = 0
    aliases: list[str] = Field(default_factory=list)
    max_prompt_length: int
    architecture: str
    reasoning: ReasoningEntry | None = None


class LanguageModelListResponse(BaseModel):
    """``GET /v1/language-models``."""

    models: list[LanguageModelEntry]


class ApiKeyResponse(BaseModel):
    """``GET /v1/api-key``, xAI shape: the key as its owner may see it."""

    redacted_api_key: str
    user_id: str
    name: str
    create_time: str
    modify_time: str
    modified_by: str
    team_id: str
    acls: list[str]
    api_key_id: str
    team_blocked: bool = False
    api_key_blocked: bool = False
    api_key_disabled: bool = False

"""Small pydantic models the structured-output tests ask for (bounded, so random weights finish quickly)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Receipt(BaseModel):
    """What a receipt-reading request asks for."""

    model_config = ConfigDict(extra="forbid")
    shop: str = Field(max_length=6)
    total: int = Field(ge=0, le=999)
    paid: bool
    kind: Literal["food", "fuel", "other"]


class Weather(BaseModel):
    """Arguments of the ``get_weather`` tool."""

    model_config = ConfigDict(extra="forbid")
    city: str = Field(max_length=8)
    unit: Literal["c", "f"]


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city", "parameters": Weather.model_json_schema()},
}

#: The same tool in the Responses API's flat shape.
WEATHER_RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL["function"]}

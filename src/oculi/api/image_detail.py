"""How the HTTP surfaces report the detail level each image was fed at, and why (SPEC §3 ``auto`` policies).

Chat completions put the list in ``usage.prompt_tokens_details.image_details``,
Responses in ``usage.input_tokens_details.image_details`` (and its
``prompt_tokens_details``), one entry per image of the prompt in order:
``{"detail": "low", "reason": "one view keeps the detail", "image_tokens": 256}``.
Absent when the prompt has no image. ``/v1/image-tokens`` reports the same
``detail`` and ``reason`` per image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:  # the schemas import this module, and schemas import nothing from the domain
    from oculi.domain import Usage


class ImageDetail(BaseModel):
    """One image of the prompt: the level it was fed at, why, and its image tokens."""

    detail: str
    reason: str
    image_tokens: int


def image_details(usage: Usage) -> list[ImageDetail] | None:
    """The wire list for ``usage`` (None when it has no image: the field is then left out)."""
    if not usage.image_details:
        return None
    return [ImageDetail(detail=d.detail, reason=d.reason, image_tokens=d.image_tokens) for d in usage.image_details]

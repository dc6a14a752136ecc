"""Routes: ``POST /v1/tokenize-text`` and ``POST /v1/image-tokens`` (count without running the model)."""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from oculi.api.body import ThreadedJSONRoute
from oculi.api.context import CallerDep, RuntimeDep
from oculi.api.tokenize.schemas import (
    ImageTokenCount,
    ImageTokensRequest,
    ImageTokensResponse,
    TokenEntry,
    TokenizeTextRequest,
    TokenizeTextResponse,
)
from oculi.api.wire import json_response, parse_detail
from oculi.domain import ImagePart
from oculi.errors import InvalidRequest
from oculi.service.admission import check_text_length

router = APIRouter(tags=["tokenize"], route_class=ThreadedJSONRoute)  # big bodies parsed off the loop


@router.post("/v1/tokenize-text", response_model=TokenizeTextResponse)
async def tokenize_text(body: TokenizeTextRequest, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Tokenize text with a model's tokenizer."""
    engine = runtime.registry.resolve(body.model)
    check_text_length(len(body.text), engine.info.context_length, param="text")
    tokens = [
        TokenEntry(token_id=t.id, string_token=t.text, token_bytes=list(t.text.encode("utf-8")))
        for t in await asyncio.to_thread(engine.tokenize, body.text)  # off the event loop: /health stays fast
    ]
    return json_response(TokenizeTextResponse(token_ids=tokens))


@router.post("/v1/image-tokens", response_model=ImageTokensResponse)
async def count_image_tokens(body: ImageTokensRequest, runtime: RuntimeDep, caller: CallerDep) -> Response:
    """Image tokens per SPEC §3 for each image, at the level ``auto`` resolves to and why (no model runs).

    Reads only the image header, except under the ``content`` auto-detail
    policy for a large ``auto`` image, which is decoded to decide.
    """
    if body.images is not None:
        parts = [
            ImagePart(ref.image_url, parse_detail(ref.detail, f"images[{i}].detail"))
            for i, ref in enumerate(body.images)
        ]
    elif body.image_url is not None:
        parts = [ImagePart(body.image_url, parse_detail(body.detail, "detail"))]
    elif body.file_id is not None:
        parts = [ImagePart.file(body.file_id, parse_detail(body.detail, "detail"))]
    else:
        raise InvalidRequest(
            "Send 'image_url' or 'file_id' (with optional 'detail'), or a list of 'images'.", param="image_url"
        )
    load_file = partial(runtime.files.image_file, caller.owner)
    engine = runtime.registry.resolve(body.model) if body.model else runtime.registry.default
    counts = []
    for i, part in enumerate(parts):
        image = await runtime.intake.plan(
            part, index=i, spec=engine.pixel_spec, load_file=load_file, question=body.question or ""
        )
        plan = image.plan
        counts.append(
            ImageTokenCount(
                index=i,
                width=image.width,
                height=image.height,
                detail=plan.detail.value,
                reason=image.reason,
                cols=plan.cols,
                rows=plan.rows,
                tiles=plan.tiles,
                thumbnail=plan.thumbnail,
                image_tokens=plan.image_tokens,
                tile_size=engine.pixel_spec.view_size,
            )
        )
    total = sum(c.image_tokens for c in counts)
    return json_response(ImageTokensResponse(model=engine.info.id, images=counts, image_tokens=total))

"""oculi-lite, the default model, through the HTTP API with the official ``openai`` client.

The server is the suite's shared oculi-lite (``lite_server``), started the way a new user
starts it: no ``--model``. The
sign is rendered here with Pillow, so its words are known.
"""

from __future__ import annotations

import io

import pytest
from api_support import KEY, data_url
from openai import OpenAI
from PIL import Image, ImageDraw, ImageFont
from spec_oracle import expected_image_tokens

from oculi.testing.server import ServerProcess

SIGN_WORDS = ("EMERGENCY", "EXIT")


@pytest.fixture(scope="module")
def client(lite_server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=lite_server.v1, api_key=KEY, max_retries=0, timeout=120)


def sign_png(size: tuple[int, int] = (900, 360)) -> bytes:
    """Black words on a white board, large enough for any OCR."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((60, 120), " ".join(SIGN_WORDS), font=ImageFont.load_default(size=96), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_default_model_is_oculi_lite(client: OpenAI) -> None:
    assert [m.id for m in client.models.list().data] == ["oculi-lite"]


def test_what_does_the_sign_say_in_chat_completions(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="grok-4",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(sign_png()), "detail": "high"}},
                    {"type": "text", "text": "What does the sign say?"},
                ],
            }
        ],
    )
    answer = completion.choices[0].message.content or ""
    assert all(word in answer.upper() for word in SIGN_WORDS), answer
    assert completion.model == "oculi-lite"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.image_tokens == expected_image_tokens(900, 360, "high")


def test_what_does_the_sign_say_in_responses_streamed(client: OpenAI) -> None:
    content = [
        {"type": "input_text", "text": "What does the sign say?"},
        {"type": "input_image", "image_url": data_url(sign_png()), "detail": "low"},
    ]
    with client.responses.stream(model="grok-4.20-reasoning", input=[{"role": "user", "content": content}]) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert all(word in text.upper() for word in SIGN_WORDS), text
    assert final.output_text == text
    assert final.usage is not None
    assert final.usage.input_tokens_details.image_tokens == 256  # type: ignore[attr-defined]

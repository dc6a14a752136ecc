"""What the engine answers: colours, faces, labels, descriptions, several images, honest refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage
from lite_support import ask, collect, prepared, render_screenshot, render_sign
from PIL import Image, ImageDraw

from oculi.domain import Conversation, ImagePart, Message, Role, TextPart
from oculi.engines.base import EngineRequest
from oculi.engines.lite import LiteEngine
from oculi.engines.lite.answer import Intent, intents

# Real photographs that ship inside the scikit-image wheel (public domain / CC0, see its data/README.txt).
SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def photo(name: str) -> Image.Image:
    return Image.open(SKIMAGE_DATA / name).convert("RGB")


def shapes() -> Image.Image:
    """A big red square and a blue circle on white."""
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 200, 280), fill=(220, 20, 30))
    draw.ellipse((230, 80, 380, 230), fill=(20, 50, 210))
    return image


@pytest.mark.parametrize(
    ("rgb", "name"),
    [((220, 20, 30), "red"), ((30, 150, 40), "green"), ((20, 50, 210), "blue"), ((245, 215, 20), "yellow")],
)
async def test_colour_of_a_plain_image_is_named(engine: LiteEngine, rgb: tuple[int, int, int], name: str) -> None:
    answer = await ask(engine, "What colour is this?", Image.new("RGB", (120, 90), rgb))
    assert f"{name} (100%)" in answer.text(), answer.text()


async def test_colours_of_shapes_are_named_by_share(engine: LiteEngine) -> None:
    text = (await ask(engine, "Which colors are in this picture?", shapes())).text()
    assert "red" in text and "blue" in text and "white" in text, text
    assert text.index("white") < text.index("red") < text.index("blue"), text  # largest share first


async def test_faces_are_counted_in_a_real_photo(engine: LiteEngine) -> None:
    astronaut = photo("astronaut.png")
    assert "I found 1 face" in (await ask(engine, "How many people are in this photo?", astronaut)).text()
    pair = Image.new("RGB", (1100, 560), "white")
    pair.paste(astronaut, (20, 24))
    pair.paste(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (570, 24))
    assert "I found 2 faces" in (await ask(engine, "How many faces?", pair)).text()
    assert "I found no faces" in (await ask(engine, "How many faces?", shapes())).text()


async def test_classifier_names_a_real_photo(engine: LiteEngine) -> None:
    text = (await ask(engine, "What is in this image?", photo("coffee.png"))).text()
    assert "espresso" in text, text
    text = (await ask(engine, "What animal is this?", photo("chelsea.png"))).text()
    assert any(cat in text for cat in ("tabby", "tiger cat", "Egyptian cat")), text


async def test_description_combines_kind_colours_and_text(engine: LiteEngine) -> None:
    text = (await ask(engine, "What's in this image?", render_screenshot())).text()
    assert "screenshot" in text and "1024×640" in text, text
    assert "Mailbox" in text and "main colours" in text, text


async def test_several_images_are_answered_in_order(engine: LiteEngine) -> None:
    sign = render_sign([("EXIT", 80)], size=(400, 200))
    answer = await ask(engine, "Describe these images.", shapes(), sign, photo("coffee.png"))
    text = answer.text()
    first, second, third = text.index("Image 1:"), text.index("Image 2:"), text.index("Image 3:")
    assert first < second < third
    assert "red" in text[first:second] and "EXIT" in text[second:third] and "espresso" in text[third:], text
    assert answer.usage.prompt_image_tokens == 256 + 256 + 768  # each image's SPEC §3 tokens


async def test_question_it_cannot_answer_says_so_and_suggests_a_vlm(engine: LiteEngine) -> None:
    text = (await ask(engine, "Why is the person smiling?", photo("astronaut.png"))).text()
    assert text.startswith("I can't fully answer that question.")
    assert "oculi serve --model" in text
    assert "I found 1 face" in text  # still says what it does know


async def test_translation_is_refused_but_the_text_is_given(engine: LiteEngine) -> None:
    text = (await ask(engine, "Translate this sign into French", render_sign([("EXIT", 80)], size=(400, 200)))).text()
    assert text.startswith("I can't fully answer that question.") and 'It says: "EXIT"' in text, text


async def test_counting_other_things_is_refused_plainly(engine: LiteEngine) -> None:
    text = (await ask(engine, "How many cars are parked here?", shapes())).text()
    assert text.startswith("I can only count faces") and "--model" in text


async def test_text_only_question_gets_an_honest_reply(engine: LiteEngine) -> None:
    text = (await ask(engine, "Write me a poem about the sea.")).text()
    assert "only describes images" in text and "oculi serve --model" in text


def test_questions_map_to_requests() -> None:
    assert intents("What does the sign say?") == [Intent.READ]
    assert intents("How many people are there?") == [Intent.FACES]
    assert intents("What colours are there?") == [Intent.COLOURS]
    assert intents("What's in this image?") == [Intent.DESCRIBE]
    assert intents("") == [Intent.DESCRIBE]
    assert intents("How big is it?") == [Intent.SIZE]
    assert intents("Is this a screenshot?") == [Intent.KIND]
    assert intents("How many dogs?") == [Intent.COUNT_OTHER]
    assert intents("Why is the sky blue?") == [Intent.UNKNOWN]
    assert intents("What is the title of this page?") == [Intent.READ]
    # Understanding the text is beyond it: it says so, then gives the text as written.
    assert intents("Can you translate the text?") == [Intent.UNKNOWN, Intent.READ]


async def test_follow_up_question_is_about_the_earlier_image(engine: LiteEngine) -> None:
    sign = prepared(0, render_sign([("EXIT", 80)], size=(400, 200)))
    conversation = Conversation(
        [
            Message(Role.USER, [ImagePart("data:image/png;base64,0"), TextPart("What does it say?")]),
            Message(Role.ASSISTANT, [TextPart('It says: "EXIT"')]),
            Message(Role.USER, [TextPart("And what colours does it have?")]),
        ]
    )
    answer = await collect(engine.generate(EngineRequest("follow-up", conversation, [sign])))
    assert answer.text().startswith("The main colours are white"), answer.text()
    assert answer.usage.prompt_image_tokens == 256  # the image is still part of the prompt

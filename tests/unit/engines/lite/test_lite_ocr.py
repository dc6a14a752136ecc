"""OCR through the engine: rendered text at several sizes, documents, screenshots, EXIF rotation."""

from __future__ import annotations

import io

from lite_support import collect, prepared, render_document, render_screenshot, render_sign, request
from PIL import Image

from oculi.domain import GenerationParams
from oculi.engines.lite import LiteEngine
from oculi.engines.lite.ocr import TextBox, join_lines, reading_order


async def test_sign_text_at_several_sizes_is_read(engine: LiteEngine) -> None:
    sign = render_sign([("PARKING", 72), ("Visitors only", 40), ("Open from nine to five", 24), ("Tow zone", 16)])
    answer = await ask_text(engine, "What does the sign say?", sign)
    for words in ["PARKING", "Visitors only", "Open from nine to five"]:
        assert words.lower() in answer.lower(), (words, answer)
    # At 16 px the PP-OCRv4 recogniser sometimes drops the space between words ("Towzone").
    assert "towzone" in answer.lower().replace(" ", ""), answer
    # Reading order: the lines come top to bottom.
    lowered = answer.lower()
    assert lowered.index("parking") < lowered.index("visitors") < lowered.index("nine") < lowered.index("tow")


async def test_large_words_the_detector_splits_are_read_whole(engine: LiteEngine) -> None:
    # At 72 px the detector boxes "WET" and "PAINT" apart, each box showing an edge of the other.
    sign = render_sign([("WET PAINT", 72), ("Do not touch", 36)], size=(700, 240))
    answer = await ask_text(engine, "What does the sign say?", sign)
    assert "WET PAINT" in answer and "Do not touch" in answer, answer


async def test_document_page_is_transcribed_in_order(engine: LiteEngine) -> None:
    answer = await ask_text(engine, "Transcribe this page.", render_document())
    lines = ["Annual Garden Report", "tomatoes ripened early", "below the ten year average", "plant more beans"]
    positions = [answer.index(line) for line in lines]
    assert positions == sorted(positions), answer
    assert "Signed by the committee" in answer


async def test_screenshot_reads_sidebar_before_main_pane(engine: LiteEngine) -> None:
    answer = await ask_text(engine, "Read the text in this screenshot", render_screenshot())
    for words in ["Inbox", "Drafts", "Archive", "Spam", "Quarterly report attached", "Lunch on Friday", "Send"]:
        assert words in answer, (words, answer)
    # Column-aware order: every folder name before the first message subject.
    assert answer.index("Spam") < answer.index("Quarterly report attached"), answer


async def test_exif_rotated_photo_of_text_is_read_upright(engine: LiteEngine) -> None:
    upright = render_sign([("FRESH BREAD", 64), ("baked every morning", 36)], size=(760, 260))
    # Stored turned a quarter (as a phone held sideways saves it); EXIF orientation 6 says "turn clockwise".
    stored = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=92, exif=exif)
    data = buffer.getvalue()
    image = prepared(0, upright, data)
    image.image = None  # the engine must decode the bytes itself, honouring EXIF
    image.mime = "image/jpeg"
    answer = await collect(engine.generate(request("What is written here?", [image])))
    text = answer.text().lower()
    assert "fresh bread" in text and "baked every morning" in text, text


async def test_image_without_text_says_so(engine: LiteEngine) -> None:
    blank = Image.new("RGB", (300, 200), (90, 160, 90))
    answer = await ask_text(engine, "What does it say?", blank)
    assert "no legible text" in answer


def test_reading_order_columns_title_and_table() -> None:
    def box(text: str, left: float, top: float, width: float, height: float = 20) -> TextBox:
        return TextBox(text, 1.0, left, top, left + width, top + height)

    # A title spanning two columns, then two columns of three lines each.
    boxes = [box("Title", 0, 0, 600, 40)]
    boxes += [box(f"left column, line {i}", 0, 80 + i * 26, 250) for i in range(3)]
    boxes += [box(f"right column, line {i}", 350, 80 + i * 26, 250) for i in range(3)]
    order = [b.text for b in reading_order(list(reversed(boxes)))]
    assert order == ["Title"] + [f"left column, line {i}" for i in range(3)] + [
        f"right column, line {i}" for i in range(3)
    ]
    # A form: labels and values on the same baselines are read across, row by row.
    form = [box("Name:", 0, 0, 80), box("Ada", 300, 0, 60), box("City:", 0, 30, 70), box("Paris", 300, 30, 80)]
    assert join_lines(reading_order(form)) == ["Name: Ada", "City: Paris"]


async def ask_text(engine: LiteEngine, question: str, image: Image.Image) -> str:
    stream = engine.generate(request(question, [prepared(0, image)], GenerationParams()))
    return (await collect(stream)).text()

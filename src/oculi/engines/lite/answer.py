"""Turning a question and the models' findings into an answer, with no language model.

The question is matched against a few kinds of request (read the text, count
faces, name colours, size, kind of image, what it shows, describe it); the
answer is assembled from the ``ImageReport`` of each image. Only what a model
detected is stated; everything else is said to be out of reach, with a pointer
to serving a real vision-language model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from oculi.engines.lite.analysis import ImageReport
from oculi.engines.lite.facts import Kind

VLM_HINT = "For open questions, serve a vision-language model: `oculi serve --model <hub id or local path>`."
ABILITIES = (
    "oculi-lite has no language model: it reads the text in images, names what they show "
    "(1000 ImageNet classes), counts faces, and reports colours, size and the kind of image."
)
TEXT_ONLY = (
    "oculi-lite only describes images, and this message has none. "
    + ABILITIES
    + " Attach an image and ask about it, or serve a language model for text questions: "
    "`oculi serve --model <hub id or local path>`."
)
#: Labels less probable than this are not offered as what the image shows.
LABEL_FLOOR = 0.05
#: Below this the classifier is "unsure" and the answer says so.
LABEL_SURE = 0.3
#: For screenshots and documents ImageNet labels ("web site", "envelope") mislead unless the classifier is sure.
LABEL_SURE_OTHER = 0.5
#: Lines of text quoted in a description (the rest: "ask me to read it").
DESCRIBE_LINES = 3


class Intent(StrEnum):
    """A kind of request the lite engine can recognise in a question."""

    READ = "read"
    FACES = "faces"
    COUNT_OTHER = "count_other"
    COLOURS = "colours"
    SIZE = "size"
    KIND = "kind"
    LABELS = "labels"
    DESCRIBE = "describe"
    UNKNOWN = "unknown"


_PEOPLE = (
    r"(faces?|people|persons?|humans?|men|women|man|woman|kids?|children|child|boys?|girls?|individuals|"
    r"someone|somebody|anyone|anybody)"
)
_PATTERNS: list[tuple[Intent, re.Pattern[str]]] = [
    (
        Intent.READ,
        re.compile(
            r"\b(read|reads|say|says|said|saying|text|texts|transcri\w*|written|writing|words?|ocr|"
            r"extract|typed|letters|spell\w*|quote|title|heading|headline|translat\w*)\b"
        ),
    ),
    (Intent.FACES, re.compile(rf"\b(how many|number of|count)\b.*\b{_PEOPLE}\b|\b(is|are) there\b.*\b{_PEOPLE}\b")),
    (Intent.FACES, re.compile(r"\bfaces?\b")),
    (Intent.COUNT_OTHER, re.compile(r"\b(how many|number of|count)\b")),
    (Intent.COLOURS, re.compile(r"\bcolou?rs?(ed)?\b")),
    (
        Intent.SIZE,
        re.compile(
            r"\b(size|dimensions?|resolution|how (big|large|wide|tall)|width|height|pixels?|megapixels?|"
            r"orientation|landscape|portrait)\b"
        ),
    ),
    (
        Intent.KIND,
        re.compile(
            r"\b(what (kind|type|sort) of (image|picture|file|photo)|is (it|this|that) an? "
            r"(screenshot|screen ?shot|document|photo\w*|scan\w*|picture|drawing|chart|graphic))\b"
        ),
    ),
    (
        Intent.LABELS,
        re.compile(
            r"\b(what (animal|breed|species|object|item|thing|vehicle|food|plant|flower|bird|dog|cat|kind of \w+)|"
            r"is (it|this|that|there) an? (?!screenshot|document|photo|picture|scan)\w+|"
            r"objects?|identify|recogni[sz]e)\b"
        ),
    ),
    (
        Intent.DESCRIBE,
        re.compile(
            r"\b(what('s| is| are)? (in|on|shown|this|that|it|happening|going on|here|there)|describe|description|"
            r"what do you see|what can you see|tell me about|summar\w*|caption|explain|analy[sz]e|look at|"
            r"what does (it|this|that) show|what is shown|details?|see)\b"
        ),
    ),
]


#: Requests that need understanding, not detection: answered with a plain "I can't" and what is known.
_BEYOND = re.compile(
    r"\b(translat\w*|summar\w*|why|who|explain\w*|mean(s|ing)?|weather|emotions?|feel\w*|mood|how old|age|"
    r"doing|happening|going on|should|opinion|think)\b"
)


def intents(question: str) -> list[Intent]:
    """The kinds of request found in ``question``, in a fixed order; DESCRIBE when empty."""
    q = " ".join(question.lower().replace("’", "'").split())
    if not q.strip(" ?.!"):
        return [Intent.DESCRIBE]
    found: list[Intent] = [Intent.UNKNOWN] if _BEYOND.search(q) else []
    for intent, pattern in _PATTERNS:
        if intent not in found and pattern.search(q):
            if intent is Intent.COUNT_OTHER and Intent.FACES in found:
                continue
            found.append(intent)
    # A bare "what's in this image" also matches LABELS-like words; describing covers it.
    if Intent.DESCRIBE in found and Intent.LABELS in found:
        found.remove(Intent.LABELS)
    return found or [Intent.UNKNOWN]


def _percent(share: float) -> str:
    return f"{round(share * 100)}%"


def _listing(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def read_text(report: ImageReport) -> str:
    lines = report.lines
    if not lines:
        return "I found no legible text in it."
    if len(lines) == 1:
        return f'It says: "{lines[0]}"'
    return "The text, in reading order:\n" + "\n".join(lines)


def count_faces(report: ImageReport, about_people: bool) -> str:
    n = len(report.faces)
    counted = "no faces" if n == 0 else "1 face" if n == 1 else f"{n} faces"
    note = ""
    if about_people:
        note = " (oculi-lite counts visible faces; people turned away or very small are not counted)"
    return f"I found {counted}{note}."


def name_colours(report: ImageReport) -> str:
    colours = [f"{c.name} ({_percent(c.share)})" for c in report.facts.colours[:5]]
    if not colours:
        return "No single colour covers much of it: the colours are very mixed."
    return f"The main colours are {_listing(colours)}."


def state_size(report: ImageReport) -> str:
    f = report.facts
    return f"It is {f.width}×{f.height} pixels ({f.megapixels:.1f} megapixels), {f.orientation}."


def state_kind(report: ImageReport) -> str:
    kind = report.kind
    article = "an" if kind.value[0] in "aeiou" else "a"
    return f"It looks like {article} {kind.value} (a guess from its flat colours, brightness and amount of text)."


def name_labels(report: ImageReport) -> str:
    labels = [lab for lab in report.labels if lab.confidence >= LABEL_FLOOR]
    if not labels:
        return "The image classifier does not recognise anything in it with any confidence."
    guesses = _listing([f"{lab.name} ({_percent(lab.confidence)})" for lab in labels])
    if labels[0].confidence < LABEL_SURE:
        return f"The image classifier is unsure; its best guesses are {guesses}."
    if len(labels) == 1:
        return f"The image classifier recognises {guesses}."
    return f"The image classifier's best guesses are {guesses}."


def describe(report: ImageReport) -> str:
    """A short description combining every model's findings."""
    f = report.facts
    kind = report.kind
    article = "an" if kind.value[0] in "aeiou" else "a"
    parts = [f"It looks like {article} {kind.value}, {f.width}×{f.height} pixels."]
    top = report.labels[0].confidence if report.labels else 0.0
    if kind in (Kind.PHOTO, Kind.GRAPHIC) or top >= LABEL_SURE_OTHER:
        parts.append(name_labels(report))
    if report.faces or kind is Kind.PHOTO:
        parts.append(count_faces(report, about_people=False))
    parts.append(name_colours(report))
    lines = report.lines
    if lines:
        quoted = " / ".join(lines[:DESCRIBE_LINES])
        more = ""
        if len(lines) > DESCRIBE_LINES:
            more = f" ({len(lines)} lines in all; ask me to read it for the full text)"
        parts.append(f'Text in it: "{quoted}"{more}.')
    else:
        parts.append("It contains no legible text.")
    return " ".join(parts)


def _answer_one(report: ImageReport, wanted: Sequence[Intent], question: str) -> str:
    about_people = bool(re.search(rf"\b{_PEOPLE}\b", question.lower())) and "face" not in question.lower()
    sections = []
    for intent in wanted:
        if intent is Intent.READ:
            sections.append(read_text(report))
        elif intent is Intent.FACES:
            sections.append(count_faces(report, about_people))
        elif intent is Intent.COLOURS:
            sections.append(name_colours(report))
        elif intent is Intent.SIZE:
            sections.append(state_size(report))
        elif intent is Intent.KIND:
            sections.append(state_kind(report))
        elif intent is Intent.LABELS:
            sections.append(name_labels(report))
        elif intent in (Intent.DESCRIBE, Intent.UNKNOWN, Intent.COUNT_OTHER):
            sections.append(describe(report))
    # A multi-line transcription reads better on its own lines than run into other sentences.
    return ("\n" if any("\n" in s for s in sections) else " ").join(sections)


def _plan(wanted: list[Intent]) -> list[Intent]:
    """The sections to write: a description stands in for what it already covers."""
    specific: list[Intent] = [i for i in wanted if i not in (Intent.DESCRIBE, Intent.UNKNOWN, Intent.COUNT_OTHER)]
    if Intent.DESCRIBE in wanted:
        # The description names colours, faces, size, kind and labels; a full transcription it does not.
        return [Intent.DESCRIBE] + [i for i in specific if i is Intent.READ]
    return specific or [Intent.DESCRIBE]


def compose(question: str, reports: Sequence[ImageReport]) -> str:
    """The whole answer to ``question`` about the images described by ``reports`` (in order)."""
    if not reports:
        return TEXT_ONLY
    wanted = intents(question)
    preface = ""
    if Intent.UNKNOWN in wanted:
        preface = f"I can't fully answer that question. {ABILITIES} {VLM_HINT}\nWhat I can tell you:\n"
    elif Intent.COUNT_OTHER in wanted:
        preface = f"I can only count faces, not other things. {VLM_HINT}\nWhat I can tell you:\n"
    wanted = _plan(wanted)
    if len(reports) == 1:
        return preface + _answer_one(reports[0], wanted, question)
    parts = [f"Image {i}: {_answer_one(report, wanted, question)}" for i, report in enumerate(reports, start=1)]
    return preface + "\n\n".join(parts)

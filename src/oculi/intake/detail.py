"""Which detail level ``auto`` becomes, and why (SPEC §3).

Two operator policies (``Settings.auto_detail``):

- ``size`` (default, SPEC §3's rule): ``low`` when both sides are ≤ 448 px,
  ``high`` otherwise. Decided from the header alone.
- ``content``: images ≤ 448 px stay ``low``; a larger one is ``high`` only
  when the request's text asks for detail (``asks_for_detail``) or the image
  holds detail the single 448×448 low view would lose (``measure``);
  otherwise ``low``: 256 tokens instead of up to 1792.

``measure`` looks at the pixels intake has already decoded (never a second
decode). It squashes the image to 896×896 (twice the low view, as the low
view squashes it to 448×448) and splits it into two octaves on a 64×64 grid
of the low view: the energy the low view drops (896 → 448) and the energy of
the low view's own finest octave (448 → 224). A cell is *active* when it
drops at least ``ACTIVE_RMS`` grey levels; its ratio lost / kept says how fine
its detail is: natural scenes lose a little at every scale (ratio well under
1), strokes thinner than a low-view pixel lose nearly everything (ratio over
1), large text keeps its strokes (ratio near 1 or under). Few active cells
(``SPARSE_CELLS``: a sign in a photo) need ``high`` when the strongest ratio
reaches ``SPARSE_RATIO``; many (a page, a screen, a chart) when the
``DENSE_QUANTILE`` of their ratios reaches ``DENSE_RATIO``. The thresholds
were fitted on bench/auto_detail.py's corpus against OCR ground truth (a
held-out half gives similar figures; the README has them). It costs about
3 ms on a 12 MP photo, 2 % of its intake (bench/auto_detail.py), and intake
caches the verdict with the image by content hash.

Explicit ``low`` / ``high`` (and ``original``, read as ``high``) are always
honoured, under either policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from oculi.domain import Detail
from oculi.intake.types import TILE_SIZE

#: Cells per side of the low view's grid (448 / 64 = 7 px: half a ViT patch, so a small sign fills a cell).
CELLS = 64
#: The image is analysed squashed to this square, as the low view squashes it: twice the low view's side.
ANALYSIS_SIDE = 2 * TILE_SIZE
#: A cell is *active* when the low view drops at least this much detail there (RMS grey levels of 255).
ACTIVE_RMS = 22.0
#: Grey levels² added to the kept energy, so flat cells with a little noise do not divide by ~0.
KEPT_FLOOR = 25.0
#: At most this many active cells: sparse detail (a sign in a photo), judged by its strongest cell ...
SPARSE_CELLS = 12
#: ... which needs ``high`` when its lost energy is this many times the kept energy or more;
SPARSE_RATIO = 0.6
#: more active cells (a page, a screen, a chart) need ``high`` when this quantile of their ratios ...
DENSE_QUANTILE = 0.85
#: ... is at least this: most of the detail is finer than the low view (small text), not large strokes.
DENSE_RATIO = 1.25


class AutoDetail(StrEnum):
    """How ``detail: "auto"`` is resolved (``OCULI_AUTO_DETAIL``)."""

    SIZE = "size"
    CONTENT = "content"


class Reason(StrEnum):
    """Why an image got the level it got (reported by usage, ``/v1/image-tokens``, gRPC and the playground)."""

    REQUESTED = "requested"  # explicit low / high / original
    FITS_ONE_VIEW = "fits one view"  # ≤ 448 px on both sides: low under either policy
    SIZE_RULE = "larger than one view"  # the size policy's high
    QUESTION = "question asks for detail"
    FINE_DETAIL = "small text or fine detail"
    ONE_VIEW_ENOUGH = "one view keeps the detail"


@dataclass(frozen=True)
class DetailChoice:
    """The level an image is fed at (LOW or HIGH) and why."""

    detail: Detail
    reason: Reason


@dataclass(frozen=True)
class ContentVerdict:
    """What ``measure`` found: cells of the low view that lose detail, and how fine that detail is.

    ``ratio``: lost / kept energy of the strongest active cell (sparse) or the
    ``DENSE_QUANTILE`` of the active cells' ratios (dense), rounded.
    """

    active_cells: int
    ratio: float

    @property
    def needs_high(self) -> bool:
        if self.active_cells == 0:
            return False
        limit = SPARSE_RATIO if self.active_cells <= SPARSE_CELLS else DENSE_RATIO
        return self.ratio >= limit


def fits_one_view(width: int, height: int) -> bool:
    """Both sides within one tile: ``low`` under either policy."""
    return width <= TILE_SIZE and height <= TILE_SIZE


def choose_early(
    policy: AutoDetail, width: int, height: int, detail: Detail, question: str = ""
) -> DetailChoice | None:
    """The choice when it needs no pixels; ``None`` when ``content`` must look at the image."""
    if detail is not Detail.AUTO:
        return DetailChoice(Detail.LOW if detail is Detail.LOW else Detail.HIGH, Reason.REQUESTED)
    if fits_one_view(width, height):
        return DetailChoice(Detail.LOW, Reason.FITS_ONE_VIEW)
    if policy is AutoDetail.SIZE:
        return DetailChoice(Detail.HIGH, Reason.SIZE_RULE)
    if asks_for_detail(question):
        return DetailChoice(Detail.HIGH, Reason.QUESTION)
    return None


def choose_from(verdict: ContentVerdict) -> DetailChoice:
    """The ``content`` policy's choice for a large ``auto`` image the question does not decide."""
    if verdict.needs_high:
        return DetailChoice(Detail.HIGH, Reason.FINE_DETAIL)
    return DetailChoice(Detail.LOW, Reason.ONE_VIEW_ENOUGH)


def band_energies(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of the low view: the energy the low view drops, and the energy of its own finest octave.

    ``pixels``: the decoded image as uint8 ``[H, W, 3]`` RGB. Both are mean
    squared band-pass values (grey levels²) on a ``CELLS × CELLS`` grid: the
    octave between the analysis image and the low view (lost), and the octave
    between the low view and half of it (kept). Every step is an OpenCV kernel
    on its fast path for a 12 MP photo decoded at half scale (a 2× box
    reduction, bilinear resizes): about 3 ms. Pages of 2688-3583 px take a 3×
    box reduction, which OpenCV does 5× slower (tens of ms on an 8 MP PNG).
    """
    height, width = pixels.shape[:2]
    # An integer box reduction first (OpenCV's fast path at 2×; fractional area resizes are 30x slower) ...
    factor = max(1, min(width, height, max(width, height) // ANALYSIS_SIDE))
    if factor > 1:
        pixels = cv2.resize(pixels, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    # ... then squashed like the low view, to twice its size: every low-view pixel is 2×2 here.
    grey = cv2.resize(grey, (ANALYSIS_SIDE, ANALYSIS_SIDE), interpolation=cv2.INTER_LINEAR)
    low = cv2.resize(grey, (TILE_SIZE, TILE_SIZE), interpolation=cv2.INTER_AREA)
    half = cv2.resize(low, (TILE_SIZE // 2, TILE_SIZE // 2), interpolation=cv2.INTER_AREA)
    lost = cv2.absdiff(grey, cv2.resize(low, (ANALYSIS_SIDE, ANALYSIS_SIDE), interpolation=cv2.INTER_LINEAR))
    kept = cv2.absdiff(low, cv2.resize(half, (TILE_SIZE, TILE_SIZE), interpolation=cv2.INTER_LINEAR))
    cells = (CELLS, CELLS)
    lost_energy = cv2.resize(cv2.multiply(lost, lost, dtype=cv2.CV_32F), cells, interpolation=cv2.INTER_AREA)
    kept_energy = cv2.resize(cv2.multiply(kept, kept, dtype=cv2.CV_32F), cells, interpolation=cv2.INTER_AREA)
    return lost_energy, kept_energy


def measure(pixels: np.ndarray) -> ContentVerdict:
    """How much detail the low view loses, and how fine it is (see the module docstring). ``pixels``: uint8 RGB."""
    lost, kept = band_energies(pixels)
    active = lost >= ACTIVE_RMS * ACTIVE_RMS
    count = int(np.count_nonzero(active))
    if count == 0:
        return ContentVerdict(0, 0.0)
    ratios = lost[active] / (kept[active] + KEPT_FLOOR)
    ratio = float(ratios.max()) if count <= SPARSE_CELLS else float(np.quantile(ratios, DENSE_QUANTILE))
    return ContentVerdict(count, round(ratio, 4))


# --- what the request's text asks for -------------------------------------------------------

#: Words that ask to read, transcribe, count, or find something small, per language. Latin-script
#: entries are whole words (or word stems ending in ``\w*``); CJK entries match anywhere.
DETAIL_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        r"read\w*",
        r"transcri\w*",
        r"ocr",
        r"text\w*",
        r"written",
        r"writing",
        r"words?",
        r"letters?",
        r"characters?",
        r"fine print",
        r"small print",
        r"what does (?:it|this|that|the \w+) say",
        r"says?",
        r"labels?",
        r"numbers?",
        r"digits?",
        r"serial",
        r"plates?",
        r"prices?",
        r"count\w*",
        r"how many",
        r"tiny",
        r"small\w*",
        r"details?",
        r"detailed",
        r"zoom\w*",
        r"find\w*",
        r"locate\w*",
        r"where (?:is|are)",
        r"spot\w*",
        r"extract\w*",
        r"tables?",
        r"values?",
        r"legible",
        r"spell\w*",
    ),
    "de": (
        r"lies",
        r"lese\w*",
        r"vorlesen",
        r"transkrib\w*",
        r"abschreib\w*",
        r"texte?",
        r"steht",
        r"geschrieben",
        r"schrift\w*",
        r"zahle?n?",
        r"ziffer\w*",
        r"zähl\w*",
        r"wie viele",
        r"klein\w*",
        r"winzig\w*",
        r"detail\w*",
        r"finde\w*",
        r"wo (?:ist|sind)",
        r"kennzeichen",
        r"preis\w*",
    ),
    "fr": (
        r"lis",
        r"lire",
        r"transcri\w*",
        r"textes?",
        r"écrit\w*",
        r"inscriptions?",
        r"combien",
        r"compte\w*",
        r"petit\w*",
        r"minuscules?",
        r"détails?",
        r"trouve\w*",
        r"où (?:est|sont)",
        r"chiffres?",
        r"nombres?",
        r"prix",
        r"plaques?",
    ),
    "es": (
        r"lee",
        r"leer",
        r"transcrib\w*",
        r"textos?",
        r"escrito",
        r"dice",
        r"cuánt[oa]s",
        r"cuenta",
        r"pequeñ\w*",
        r"diminut\w*",
        r"detalles?",
        r"encuentra",
        r"dónde (?:está|están)",
        r"números?",
        r"precios?",
        r"matrícula",
    ),
    "it": (
        r"leggi\w*",
        r"trascriv\w*",
        r"testo",
        r"scritto",
        r"quant[ie]",
        r"conta",
        r"piccol\w*",
        r"dettagli\w*",
        r"trova",
        r"dov'è",
        r"numer[oi]",
        r"prezz[oi]",
        r"targa",
    ),
    "pt": (
        r"leia",
        r"ler",
        r"transcrev\w*",
        r"escrito",
        r"quant[oa]s",
        r"conte",
        r"pequen\w*",
        r"detalhes?",
        r"encontre",
        r"onde (?:está|estão)",
        r"preços?",
        r"placa",
    ),
    "nl": (
        r"lees",
        r"tekst\w*",
        r"geschreven",
        r"hoeveel",
        r"tel",
        r"kleine?",
        r"vind",
        r"waar (?:is|zijn)",
        r"nummers?",
        r"prijs\w*",
        r"kenteken",
    ),
    "ru": (
        r"прочита\w*",
        r"прочти",
        r"чита\w*",
        r"текст\w*",
        r"написан\w*",
        r"надпис\w*",
        r"сколько",
        r"посчита\w*",
        r"мелк\w*",
        r"маленьк\w*",
        r"детал\w*",
        r"найди",
        r"где",
        r"номер\w*",
        r"цен\w*",
    ),
}
#: Chinese, Japanese and Korean: no spaces between words, so these match anywhere.
DETAIL_CJK: tuple[str, ...] = (
    # zh
    "读",
    "識別",
    "识别",
    "文字",
    "文本",
    "转录",
    "写的",
    "写着",
    "多少",
    "几个",
    "数一数",
    "细节",
    "小的",
    "找到",
    "在哪",
    "号码",
    "价格",
    "车牌",
    # ja
    "読",
    "テキスト",
    "書いて",
    "いくつ",
    "何個",
    "何人",
    "数え",
    "小さ",
    "細か",
    "詳細",
    "探し",
    "どこ",
    "番号",
    "値段",
    # ko
    "읽",
    "텍스트",
    "글자",
    "몇",
    "세어",
    "작은",
    "자세",
    "찾",
    "어디",
    "번호",
)
_WORDS = re.compile(
    r"\b(?:" + "|".join(w for words in DETAIL_WORDS.values() for w in words) + r")\b"
    r"|" + "|".join(re.escape(w) for w in DETAIL_CJK),
    re.IGNORECASE,
)
#: Only this much of a request's text is searched (the question is near the image; a pasted book is not).
MAX_QUESTION_CHARS = 20_000


def asks_for_detail(question: str) -> bool:
    """Whether ``question`` asks to read, transcribe, count, or find something small (any listed language)."""
    return bool(question) and _WORDS.search(question[-MAX_QUESTION_CHARS:]) is not None


__all__ = [
    "AutoDetail",
    "ContentVerdict",
    "DetailChoice",
    "Reason",
    "asks_for_detail",
    "choose_early",
    "choose_from",
    "fits_one_view",
    "measure",
]

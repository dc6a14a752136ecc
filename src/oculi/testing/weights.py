"""Random weights that make a tiny model's output depend on its input."""

from __future__ import annotations

from typing import Any


def spread_weights(model: Any, std: float) -> None:
    """Re-draw matrix weights with a large spread.

    With the usual tiny init (std 0.02) a random model ignores its input and
    repeats one token forever; a wide spread makes the output depend on the
    prompt and the pixels, which is what parity and cross-talk tests need.
    """
    import torch

    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, std)

"""Image intake: source → bytes → validated → decoded → tile plan → pixel tiles → token count.

The one entry point is ``Intake.prepare`` (see ``pipeline.py``).
"""

from oculi.intake.types import PixelSpec, PreparedImage, TilePlan

__all__ = ["PixelSpec", "PreparedImage", "TilePlan"]

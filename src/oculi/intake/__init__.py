"""Image intake: source → bytes → validated → decoded → tile plan → pixel tiles → token count.

The one entry point is ``Intake`` (``pipeline.py``): ``prepare`` for model
input, ``plan`` for token counting. ``fetch.py`` owns URL policy (SSRF),
``decode.py`` bytes → RGB, ``tiling.py`` the SPEC §3 plan and pixel views,
``cache.py`` the content-hash cache.
"""

from oculi.intake.pipeline import PLAN_ONLY, Intake, LoadStored
from oculi.intake.tiling import plan_tiles
from oculi.intake.types import PixelSpec, PreparedImage, TilePlan

__all__ = ["PLAN_ONLY", "Intake", "LoadStored", "PixelSpec", "PreparedImage", "TilePlan", "plan_tiles"]

"""The committed GGUF fixtures and whether llama.cpp can serve them here (shared by every llama.cpp test).

``LLAMACPP`` marks a module (``pytestmark = LLAMACPP``): its tests carry the ``llamacpp`` marker and are
skipped, with the reason, where the llama.cpp extra is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from oculi.engines.llamacpp.engine import LlamaCppEngine
    from oculi.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gguf"

try:
    import llama_cpp.mtmd_cpp  # noqa: F401

    HAVE_LLAMA_CPP = True
except (ImportError, OSError):
    HAVE_LLAMA_CPP = False

LLAMACPP = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(not HAVE_LLAMA_CPP, reason="llama-cpp-python is not installed (scripts/build_llamacpp.sh)"),
]


def load_gguf(name: str, settings: Settings) -> LlamaCppEngine:
    """The llama.cpp engine on the committed fixture ``name`` (``NAME.gguf`` and its ``NAME-mmproj.gguf``)."""
    from oculi.engines import llamacpp

    return llamacpp.load(str(FIXTURES / f"{name}.gguf"), str(FIXTURES / f"{name}-mmproj.gguf"), settings)

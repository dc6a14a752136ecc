"""Which SPEC §3 family a GGUF projector belongs to, and whether mtmd takes its views exactly.

The mmproj's ``clip.projector_type`` names the family (``Family.projectors``
in ``oculi.families``, llama.cpp's names from tools/mtmd/clip-impl.h). Its
views are fed to libmtmd as bitmaps of exactly the size the model takes them
at, and mtmd then neither slices nor resizes them *when its
own preprocessing agrees*: Qwen's dynamic-resolution resize keeps a side that
is a multiple of patch·merge and a pixel count within its min/max limits
(8…4096 tokens by default, so 256…1536 tokens of SPEC §3 images fit);
Gemma 3's and InternVL's fixed-size resize keeps an image of their tile size.

``exact`` checks this by measurement instead of reading hyper-parameters: it
asks mtmd to tokenize a blank bitmap of every size SPEC §3 can produce for the
family (the view, and for Qwen every grid of at most 6 tiles) and compares the
chunks with ``views · 256``. A projector that fails (another patch size, a
custom token limit) is served with mtmd's own preprocessing and its usage
reports what mtmd made of the image.
"""

from __future__ import annotations

from collections.abc import Callable

from oculi import families
from oculi.families import Family
from oculi.intake.types import MAX_TILES, TOKENS_PER_TILE, ViewLayout


def projector_family(projector_type: str) -> Family | None:
    """The family of an mmproj's ``clip.projector_type``, or None for the architectures SPEC §3 does not map onto."""
    return families.of_projector(projector_type)


def probe_sizes(family: Family) -> list[tuple[int, int]]:
    """Every bitmap size (width, height) SPEC §3 hands this family: the view, and Qwen's grid images."""
    s = family.view_size
    sizes = [(s, s)]
    if family.layout is ViewLayout.GRID:
        tiles = range(1, MAX_TILES + 1)
        sizes += [(cols * s, rows * s) for cols in tiles for rows in tiles if 1 < cols * rows <= MAX_TILES]
    return sizes


def exact(family: Family, image_chunks: Callable[[int, int], list[int]]) -> str | None:
    """None when mtmd encodes every size of ``probe_sizes`` unsliced at 256 tokens a view, else the reason.

    ``image_chunks(width, height)``: the token counts of mtmd's image chunks
    for a bitmap of that size (``Native.image_chunks``).
    """
    s = family.view_size
    for width, height in probe_sizes(family):
        want = [(width // s) * (height // s) * TOKENS_PER_TILE]
        got = image_chunks(width, height)
        if got != want:
            return f"mtmd makes a {width}×{height} image into image chunks of {got} tokens, not {want}"
    return None

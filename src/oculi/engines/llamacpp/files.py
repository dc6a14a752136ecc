"""Finding the GGUF pair (text model + multimodal projector) for the llama.cpp engine.

A model spec is a ``.gguf`` file, a directory holding one (plus an
``mmproj*.gguf``), or a hub repository holding both, optionally with a
quantization tag like llama-server's ``-hf`` flag (``owner/repo:Q8_0``).
Also a small reader of GGUF metadata: the mmproj's projector type decides how
images are laid out (SPEC §3 tiling for the InternVL family), and llama.cpp's
C API does not expose it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from oculi.errors import InvalidRequest
from oculi.settings import Settings

GGUF_MAGIC = b"GGUF"

# GGUF value types (ggml/include/gguf.h) and the struct format of the scalar ones.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class ModelFileError(InvalidRequest):
    """A llama.cpp model spec cannot be resolved to a GGUF text model and its projector."""

    code = "model_file_invalid"


def _read_string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _read_string(f)
    if kind == _ARRAY:
        (item_kind,) = struct.unpack("<I", f.read(4))
        (count,) = struct.unpack("<Q", f.read(8))
        if item_kind in _SCALARS:  # skip numeric arrays wholesale: we never need them
            f.seek(count * struct.calcsize(_SCALARS[item_kind]), 1)
            return None
        return [_read_value(f, item_kind) for _ in range(count)]
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise ValueError(f"unknown GGUF value type {kind}")
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def read_gguf_metadata(path: Path, keys: set[str] | None = None) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (only ``keys`` when given; numeric arrays as ``None``)."""
    out: dict[str, Any] = {}
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (wrong magic bytes).", param="model")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        if version < 2:
            raise ModelFileError(f"{path} is GGUF version {version}; llama.cpp needs 2 or later.", param="model")
        for _ in range(n_kv):
            key = _read_string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            value = _read_value(f, kind)
            if keys is None or key in keys:
                out[key] = value
    return out


def _pick_pair(files: list[Path], where: str, quant: str | None) -> tuple[Path, Path | None]:
    """Split ``files`` into the text model and the projector (``mmproj`` in the name)."""
    mmprojs = sorted(p for p in files if "mmproj" in p.name.lower())
    texts = sorted(p for p in files if "mmproj" not in p.name.lower())
    if quant:
        texts = [p for p in texts if quant.lower() in p.name.lower()] or texts
    if not texts:
        raise ModelFileError(f"No GGUF text model found in {where}.", param="model")
    # Prefer the smallest quantization among several (what a CPU server wants) unless a tag chose one.
    text = min(texts, key=lambda p: p.stat().st_size) if len(texts) > 1 else texts[0]
    return text, (mmprojs[0] if mmprojs else None)


def _from_hub(repo: str, quant: str | None, settings: Settings) -> tuple[Path, Path | None]:
    from huggingface_hub import list_repo_files, snapshot_download

    try:
        if settings.offline:
            raise OSError("offline")
        names = [n for n in list_repo_files(repo) if n.endswith(".gguf")]
        texts = [n for n in names if "mmproj" not in n.lower()]
        if quant:
            texts = [n for n in texts if quant.lower() in n.lower()] or texts
        wanted = [*texts[:1], *[n for n in names if "mmproj" in n.lower()][:1]]
        local = Path(snapshot_download(repo, allow_patterns=wanted))
    except Exception as exc:
        try:
            local = Path(snapshot_download(repo, allow_patterns=["*.gguf"], local_files_only=True))
        except Exception:
            raise ModelFileError(
                f"'{repo}' is neither a local .gguf file nor a hub repository in the local cache, and the hub "
                f"could not be reached ({type(exc).__name__}). Download it while online "
                f"(huggingface-cli download {repo}) or pass --model path/to/model.gguf --mmproj path/to/mmproj.gguf.",
                param="model",
            ) from exc
    return _pick_pair(sorted(local.rglob("*.gguf")), f"hub repository {repo}", quant)


def _shared_start(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def resolve_model_files(model: str, mmproj: str | None, settings: Settings) -> tuple[Path, Path]:
    """The (text model, projector) GGUF paths for a model spec; see the module docstring."""
    path = Path(model).expanduser()
    if path.is_file():
        text, found = path, None
        if mmproj is None:
            mmprojs = sorted(p for p in path.parent.glob("*.gguf") if "mmproj" in p.name.lower())
            # A folder may hold several pairs (``name.gguf`` + ``name-mmproj.gguf``): the projector whose
            # name shares the longest start with the model's, the first in name order on a tie.
            found = max(mmprojs, key=lambda p: _shared_start(p.name, path.name), default=None)
    elif path.is_dir():
        text, found = _pick_pair(sorted(path.glob("*.gguf")), str(path), None)
    elif model.lower().endswith(".gguf") or model.startswith((".", "/", "~")):
        raise ModelFileError(f"Model file {model} does not exist.", param="model")
    else:
        repo, _, quant = model.partition(":")
        text, found = _from_hub(repo, quant or None, settings)
    projector = Path(mmproj).expanduser() if mmproj else found
    if projector is None:
        raise ModelFileError(
            f"No multimodal projector for {model}: pass --mmproj path/to/mmproj.gguf "
            "(oculi serves vision models; a text-only GGUF cannot read images).",
            param="mmproj",
        )
    if not projector.is_file():
        raise ModelFileError(f"Projector file {projector} does not exist.", param="mmproj")
    return text, projector

"""Finding and loading a transformers checkpoint: local directory or hub id (the transformers and vLLM engines).

A spec that names an existing directory is used as is. Anything else is a hub
id: taken from the local hub cache when present, else downloaded (with the
hub's progress bar) unless oculi runs offline (``settings.offline`` or
``HF_HUB_OFFLINE``). Every way this can fail becomes ``ModelUnavailable`` with
a message that says what is missing and how to provide it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from oculi.errors import ModelUnavailable
from oculi.settings import Settings

log = logging.getLogger(__name__)


def model_id(spec: str) -> str:
    """The id a served model is known by: a directory's basename, or the hub id itself."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve().name
    return spec


def _hub_offline(settings: Settings) -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return settings.offline or flag in {"1", "true", "yes", "on"}


def _how_to_provide(spec: str) -> str:
    return (
        f"Download it while online with `huggingface-cli download {spec}` (it lands in the Hugging Face cache, "
        f"HF_HOME), or pass a local directory holding config.json, the weights and the tokenizer/processor files "
        f"as --model /path/to/dir."
    )


def resolve_checkpoint(spec: str, settings: Settings) -> Path:
    """The local directory of checkpoint ``spec``, downloading it from the hub when allowed."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailable(
                f"The model directory {path} has no config.json, so it is not a transformers checkpoint. "
                f"Point --model at the directory that holds config.json and the weights."
            )
        return path.resolve()
    if path.exists() or spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1:
        raise ModelUnavailable(
            f"The model path {spec} is not a directory. Pass a checkpoint directory (with config.json) "
            f"or a Hugging Face id such as OpenGVLab/InternVL3-1B-hf."
        )
    return _from_hub(spec, settings)


def _from_hub(repo_id: str, settings: Settings) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    try:
        return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, FileNotFoundError):
        pass
    except ValueError as exc:  # malformed repo id
        raise ModelUnavailable(f"'{repo_id}' is neither a directory nor a valid Hugging Face id: {exc}") from exc
    if _hub_offline(settings):
        raise ModelUnavailable(
            f"The model {repo_id} is not in the local Hugging Face cache and oculi is offline "
            f"(--offline / OCULI_OFFLINE or HF_HUB_OFFLINE is set). " + _how_to_provide(repo_id)
        )
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        return Path(snapshot_download(repo_id=repo_id))
    except GatedRepoError as exc:
        raise ModelUnavailable(
            f"The model {repo_id} is gated on the Hugging Face hub: accept its licence on its hub page and log in "
            f"with `huggingface-cli login` (or set HF_TOKEN), then retry."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailable(
            f"The Hugging Face hub has no model {repo_id} (or it is private). Check the id, or pass a local "
            f"checkpoint directory."
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ModelUnavailable(
            f"The model {repo_id} is not in the local cache and could not be downloaded "
            f"({type(exc).__name__}: {exc}). " + _how_to_provide(repo_id)
        ) from exc


def load_processor(path: Path) -> Any:
    """The checkpoint's own processor (``AutoProcessor``).

    transformers refuses to build processors that own a video processor when
    ``torchvision`` is missing, even for image-only use. oculi never sends
    videos, so in that case the same processor class is built without its
    video part, from the same files.
    """
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path)
    except (ValueError, ImportError) as exc:
        if "torchvision" not in str(exc):
            raise
    processor_class = _processor_class(path)

    class ImageOnlyProcessor(processor_class):  # type: ignore[misc, valid-type]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [a for a in super().get_attributes() if a != "video_processor"]

    ImageOnlyProcessor.__name__ = processor_class.__name__
    return ImageOnlyProcessor.from_pretrained(path)


def _processor_class(path: Path) -> type:
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    name = None
    for file in ("processor_config.json", "preprocessor_config.json"):
        if (path / file).is_file():
            name = json.loads((path / file).read_text()).get("processor_class")
            if name:
                break
    if not name:
        model_type = AutoConfig.from_pretrained(path).model_type
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    if not name or not hasattr(transformers, name):
        raise ModelUnavailable(f"The checkpoint at {path} names no processor transformers knows ({name!r}).")
    return getattr(transformers, name)  # type: ignore[no-any-return]


def pick_device(setting: str) -> str:
    """``auto`` → cuda if present, else mps, else cpu."""
    import torch

    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(setting: str) -> Any:
    """A torch dtype, or ``"auto"`` (the checkpoint's own)."""
    import torch

    if setting == "auto":
        return "auto"
    try:
        dtype = getattr(torch, setting)
    except AttributeError:
        dtype = None
    if not isinstance(dtype, torch.dtype):
        raise ModelUnavailable(f"Unknown dtype '{setting}'. Use auto, float32, bfloat16 or float16.")
    return dtype

"""Finding the GGUF pair and reading GGUF metadata (no llama.cpp needed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from oculi.engines.llamacpp.files import ModelFileError, read_gguf_metadata, resolve_model_files
from oculi.settings import Settings

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gguf"


def test_fixture_metadata_names_architectures_and_projectors():
    text = read_gguf_metadata(FIXTURES / "tiny-internvl.gguf", {"general.architecture", "tokenizer.chat_template"})
    assert text["general.architecture"] == "qwen2"
    assert "<IMG_CONTEXT>" in text["tokenizer.chat_template"]
    internvl = read_gguf_metadata(FIXTURES / "tiny-internvl-mmproj.gguf")
    assert internvl["clip.projector_type"] == "internvl"
    assert internvl["clip.vision.image_size"] == 448
    llava = read_gguf_metadata(FIXTURES / "tiny-llava-mmproj.gguf", {"clip.projector_type"})
    assert llava["clip.projector_type"] == "mlp"
    projectors = {"tiny-qwen2_5_vl": "qwen2.5vl_merger", "tiny-qwen3_vl": "qwen3vl_merger", "tiny-gemma3": "gemma3"}
    for name, projector in projectors.items():
        assert read_gguf_metadata(FIXTURES / f"{name}-mmproj.gguf")["clip.projector_type"] == projector


def test_not_a_gguf_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not gguf at all")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read_gguf_metadata(bogus)


def test_file_with_explicit_projector(tmp_path):
    text, mmproj = resolve_model_files(
        str(FIXTURES / "tiny-llava.gguf"), str(FIXTURES / "tiny-llava-mmproj.gguf"), Settings()
    )
    assert (text.name, mmproj.name) == ("tiny-llava.gguf", "tiny-llava-mmproj.gguf")


def test_directory_holding_the_pair(tmp_path):
    shutil.copy(FIXTURES / "tiny-internvl.gguf", tmp_path / "model-f32.gguf")
    shutil.copy(FIXTURES / "tiny-internvl-mmproj.gguf", tmp_path / "mmproj-model-f32.gguf")
    text, mmproj = resolve_model_files(str(tmp_path), None, Settings())
    assert (text.name, mmproj.name) == ("model-f32.gguf", "mmproj-model-f32.gguf")
    # the projector next to a named file is found as well
    text, mmproj = resolve_model_files(str(tmp_path / "model-f32.gguf"), None, Settings())
    assert mmproj.name == "mmproj-model-f32.gguf"


def test_a_named_file_gets_its_own_projector_among_several_pairs():
    for name in ("tiny-gemma3", "tiny-internvl", "tiny-llava", "tiny-qwen2_5_vl", "tiny-qwen3_vl"):
        _, mmproj = resolve_model_files(str(FIXTURES / f"{name}.gguf"), None, Settings())
        assert mmproj.name == f"{name}-mmproj.gguf"


def test_missing_projector_and_missing_files_say_what_to_pass(tmp_path):
    shutil.copy(FIXTURES / "tiny-internvl.gguf", tmp_path / "model.gguf")
    with pytest.raises(ModelFileError, match="--mmproj"):
        resolve_model_files(str(tmp_path / "model.gguf"), None, Settings())
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model_files(str(tmp_path / "absent.gguf"), None, Settings())
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model_files(str(tmp_path / "model.gguf"), str(tmp_path / "absent-mmproj.gguf"), Settings())


def test_unknown_hub_repo_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFileError, match="huggingface-cli download"):
        resolve_model_files("someone/Some-Model-GGUF:Q8_0", None, Settings(offline=True))


def test_which_specs_name_gguf_models(tmp_path):
    from oculi.engines.llamacpp import handles

    assert handles(str(FIXTURES / "tiny-internvl.gguf"))
    assert handles(str(FIXTURES))  # a directory holding GGUF files
    assert handles("ggml-org/InternVL3-1B-Instruct-GGUF") and handles("ggml-org/InternVL3-1B-Instruct-GGUF:Q8_0")
    assert not handles("OpenGVLab/InternVL3-1B-hf")
    assert not handles(str(tmp_path))  # an empty directory


@pytest.mark.parametrize(
    ("name", "view"),
    [
        ("tiny-qwen2_5_vl", "448×448 px (qwen2_5_vl, GGUF)"),
        ("tiny-qwen3_vl", "512×512 px (qwen3_vl, GGUF)"),
        ("tiny-gemma3", "896×896 px (gemma3, GGUF)"),
        ("tiny-internvl", "448×448 px (internvl, GGUF)"),
        ("tiny-llava", "not a SPEC §3 family (projector mlp)"),
    ],
)
def test_oculi_tokens_names_the_view_size_of_a_gguf_family(tmp_path, name, view):
    import subprocess
    import sys

    from PIL import Image

    picture = tmp_path / "photo.png"
    Image.new("RGB", (900, 450), (40, 90, 200)).save(picture)
    model = str(FIXTURES / f"{name}.gguf")
    command = [sys.executable, "-m", "oculi.cli", "tokens", str(picture), "--detail", "high", "--model", model]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert view in done.stdout
    assert "768" in done.stdout  # 2×1 grid + thumbnail: 3 · 256

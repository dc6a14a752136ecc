"""The test-checkpoint builders: real layouts, real tokenizers, built once and cached."""

from __future__ import annotations

import json

from oculi.testing.checkpoints import IMG_CONTEXT, IMG_END, IMG_START, cached_checkpoint


def test_cached_checkpoint_builds_once_and_reuses(tmp_path):
    first = cached_checkpoint("tiny-internvl", root=tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = cached_checkpoint("tiny-internvl", root=tmp_path)
    assert again == first and first.name.startswith("tiny-internvl-v")
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no temporary build dirs left behind"


def test_cache_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OCULI_CHECKPOINT_CACHE", str(tmp_path))
    assert cached_checkpoint("tiny-llava").parent == tmp_path


def test_internvl_checkpoint_has_the_real_repo_layout(tiny_internvl):
    from transformers import AutoConfig, AutoTokenizer

    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "chat_template.jinja",
        "generation_config.json",
    ):
        assert (tiny_internvl / name).is_file(), name
    config = AutoConfig.from_pretrained(tiny_internvl)
    assert config.model_type == "internvl" and config.text_config.model_type == "qwen2"
    assert config.vision_config.image_size == [448, 448] or tuple(config.vision_config.image_size) == (448, 448)
    tokenizer = AutoTokenizer.from_pretrained(tiny_internvl)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert config.image_token_id == tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
    assert tokenizer.start_image_token == IMG_START and tokenizer.end_image_token == IMG_END
    # Special tokens are single tokens; ordinary text round-trips through the byte-level BPE.
    ids = tokenizer(f"{IMG_START}{IMG_CONTEXT}{IMG_END}<|im_start|>", add_special_tokens=False)["input_ids"]
    assert len(ids) == 4
    text = "Héllo, wörld! 🙂 123"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    processor = json.loads((tiny_internvl / "processor_config.json").read_text())
    assert processor["image_seq_length"] == 256

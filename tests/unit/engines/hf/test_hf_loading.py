"""Loading checkpoints: local directories, hub ids, and the errors that say what to do."""

from __future__ import annotations

import pytest

from oculi.engines import hf
from oculi.engines.base import Engine
from oculi.engines.common.checkpoint import model_id, resolve_checkpoint
from oculi.errors import ModelUnavailable
from oculi.settings import Settings


def test_missing_hub_model_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelUnavailable) as info:
        resolve_checkpoint("OpenGVLab/InternVL3-1B-hf", Settings(offline=True))
    message = info.value.message
    assert "OpenGVLab/InternVL3-1B-hf" in message
    assert "offline" in message
    assert "huggingface-cli download OpenGVLab/InternVL3-1B-hf" in message
    assert "--model /path/to/dir" in message


def test_hf_hub_offline_env_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        resolve_checkpoint("someone/some-vlm", Settings())


def test_paths_that_are_not_checkpoints_are_explained(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        resolve_checkpoint(str(tmp_path), Settings(offline=True))
    with pytest.raises(ModelUnavailable, match="not a directory"):
        resolve_checkpoint(str(tmp_path / "nope"), Settings(offline=True))


def test_local_checkpoint_loads_and_describes_itself(tiny_internvl, caplog):
    caplog.set_level("INFO", logger="oculi.engines.hf")
    engine = hf.load(str(tiny_internvl), Settings(offline=True, max_batch_size=2, threads=1))
    try:
        assert isinstance(engine, Engine)
        info = engine.info
        assert info.id == model_id(str(tiny_internvl)) == tiny_internvl.name
        assert info.architecture == "InternVLForConditionalGeneration"
        assert info.context_length == 8192
        assert info.dtype == "float32" and info.device == "cpu"
        assert info.parameters and info.parameters > 0
        spec = engine.pixel_spec
        assert spec.tiles and spec.view_size == 448
        assert spec.mean == pytest.approx((0.485, 0.456, 0.406)) and spec.std == pytest.approx((0.229, 0.224, 0.225))
        logged = caplog.text
        assert "InternVLForConditionalGeneration" in logged and "context=8192" in logged and "dtype=float32" in logged
    finally:
        engine.scheduler.close()


def test_hub_id_is_the_model_id():
    assert model_id("OpenGVLab/InternVL3-1B-hf") == "OpenGVLab/InternVL3-1B-hf"


def test_families_the_batched_decode_cannot_serve_are_refused_with_a_reason():
    from transformers import Glm4vConfig, Qwen2VLConfig, Qwen3_5Config

    # GLM-4.1V of another patch size is no family: its 3-D positions would have to come from its processor.
    with pytest.raises(ModelUnavailable, match="multimodal rotary positions"):
        hf.check_supported(Glm4vConfig(vision_config={"patch_size": 16}), "someone/glm-4.1v-16px")
    with pytest.raises(ModelUnavailable, match=r"attention layers of kinds \['chunked_attention'"):
        config = Qwen3_5Config(
            text_config={"layer_types": ["chunked_attention", "full_attention"], "num_hidden_layers": 2}
        )
        hf.check_supported(config, "someone/qwen3.5-chunked")
    hf.check_supported(Qwen2VLConfig(), "Qwen/Qwen2-VL-2B-Instruct")  # a view family: its positions are computed
    hf.check_supported(Glm4vConfig(), "zai-org/GLM-4.1V-9B-Thinking")  # the GLM-V family
    hf.check_supported(Qwen3_5Config(), "Qwen/Qwen3.5-27B")  # hybrid: linear-attention states are batched

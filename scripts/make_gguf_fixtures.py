"""Build GGUF test fixtures (text model + mmproj) from tiny random-weight HF checkpoints, offline.

Usage::

    .venv/bin/python scripts/make_gguf_fixtures.py                 # tiny fixtures → tests/fixtures/gguf/
    .venv/bin/python scripts/make_gguf_fixtures.py --bench DIR     # + InternVL3-1B-sized random model (Q8_0)
    .venv/bin/python scripts/make_gguf_fixtures.py --skip-tiny --bench-gemma3 DIR   # Gemma 3 4B's KV shape
    .venv/bin/python scripts/make_gguf_fixtures.py --only tiny-gemma3   # one fixture
    .venv/bin/python scripts/make_gguf_fixtures.py --thinking      # only tiny-internvl-thinking.gguf

The checkpoints come from ``oculi.testing.checkpoints`` and
``oculi.testing.family_checkpoints`` (real architectures,
real tokenizers, random weights); the conversion is llama.cpp's own
``convert_hf_to_gguf.py`` from the vendored source of the pinned
llama-cpp-python sdist (``scripts/build_llamacpp.sh`` unpacks it into
``~/.cache/oculi-llamacpp``). Three adaptations, all here and documented:

1. InternVL: the converter knows InternVL in its original layout
   (``InternVLChatModel`` with ``llm_config`` + ``InternVisionModel``), not the
   ``-hf`` layout transformers writes. The ``-hf`` tensor names are mapped
   already (Intern-S1 uses them) when prefixed with ``model.``; so a staging
   directory gets a rewritten ``config.json`` (same numbers, original keys)
   and the weights with renamed keys (only the safetensors header changes).
   LLaVA (1.5 style, CLIP + MLP projector): the text model converts as is; the
   converter's mmproj path handles only Pixtral-style LLaVA, so the projector
   goes through llama.cpp's own legacy ``convert_image_encoder_to_gguf.py``
   (vision tower saved as a ``CLIPVisionModel`` + the projector tensors).
2. The test tokenizers are byte-level BPE with Qwen2's pre-tokenizer regex
   but a vocabulary trained here, so the converter's fingerprint of known
   pre-tokenizers does not recognise them: an unknown fingerprint is declared
   ``qwen2`` (which is what the regex is).
3. The converter names InternVL's and Qwen's projector tensors through a table
   sized by the vision layer count; for a tower of fewer than 4 layers it is
   sized for 4.
4. ``sentencepiece`` is not installed and the checkpoints have no
   ``tokenizer.model``: its absence means "no SentencePiece vocabulary", as the
   converter already assumes when the file is missing.
5. Gemma 3: the converter writes no sliding-window layer pattern, so
   llama.cpp assumes the published models' 5 sliding : 1 full; the tiny
   checkpoint alternates 1 : 1 (``layer_types``), which is written here as
   the per-layer pattern llama.cpp reads (``gemma3.attention.sliding_window_pattern``).
6. Qwen2.5-VL: the tiny vision tower is one full-attention layer
   (``fullatt_block_indexes=[0]``), which the converter writes as window
   pattern 1; llama.cpp's graph then has no windowed layer, drops the window
   mask and aborts when it sets it (``clip.cpp``: "Failed to get tensor
   window_mask"). A tower without windowed layers is written as pattern 0 (no
   window attention), which computes the same (the published models have
   windowed layers and pattern 8).
7. Gemma 4: the converter reads the vocabulary only as a SentencePiece-style
   BPE (byte fallback, ``LlamaHfVocab``); the tiny checkpoint's tokenizer is
   the byte-level BPE of the other fixtures, which goes the GPT-2 way (as
   Gemma 3's does), so llama.cpp tokenizes exactly as transformers does.
   Qwen2.5-VL, Qwen3-VL and Gemma 3 otherwise convert as they are (text model
   and ``--mmproj`` from the same checkpoint directory).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

VERSION = "0.3.36"
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "gguf"


def vendor_dir(explicit: str | None) -> Path:
    """Where ``convert_hf_to_gguf.py`` lives (the unpacked llama-cpp-python sdist)."""
    if explicit:
        path = Path(explicit)
    else:
        cache = Path(os.environ.get("OCULI_LLAMACPP_CACHE", Path.home() / ".cache" / "oculi-llamacpp"))
        path = cache / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    if not (path / "convert_hf_to_gguf.py").is_file():
        sys.exit(f"convert_hf_to_gguf.py not found under {path}: run scripts/build_llamacpp.sh first")
    return path


def _patch_converter(vendor: Path) -> None:
    """Import the converter's package and apply adaptations 2 and 3 (module docstring)."""
    sys.path.insert(0, str(vendor))
    sys.path.insert(1, str(vendor / "gguf-py"))
    from conversion import base  # type: ignore[import-not-found]

    text_model: Any = base.TextModel
    original_pre = text_model.get_vocab_base_pre
    original_sp = text_model._create_vocab_sentencepiece

    def get_vocab_base_pre(self: Any, tokenizer: Any) -> str:
        try:
            return str(original_pre(self, tokenizer))
        except NotImplementedError:
            return "qwen2"  # our tokenizers use exactly Qwen2's pre-tokenizer regex

    def create_vocab_sentencepiece(self: Any) -> Any:
        if not (self.dir_model / "tokenizer.model").is_file():
            raise FileNotFoundError(self.dir_model / "tokenizer.model")
        return original_sp(self)

    text_model.get_vocab_base_pre = get_vocab_base_pre
    text_model._create_vocab_sentencepiece = create_vocab_sentencepiece

    # The converter maps projector tensors like InternVL's ``mlp1.{0,1,3}`` and
    # Qwen's ``merger.mlp.{0,2}`` through the per-block name table, sized by the
    # vision tower's layer count; a tiny tower (fewer than 4 layers) would lose
    # them. Size the table for at least 4.
    mmproj_model: Any = base.MmprojModel
    original_init = mmproj_model.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self.block_count < 4:
            import gguf  # type: ignore[import-not-found]

            self.tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, 4)

    mmproj_model.__init__ = init

    # Adaptation 5: Gemma 3's sliding-window layers as the checkpoint lists them.
    from conversion import gemma  # type: ignore[import-not-found]

    gemma_model: Any = gemma.Gemma3Model
    original_params = gemma_model.set_gguf_parameters

    def set_gguf_parameters(self: Any) -> None:
        original_params(self)
        layer_types = self.hparams.get("layer_types")
        if layer_types and self.hparams.get("sliding_window"):
            self.gguf_writer.add_sliding_window_pattern([t == "sliding_attention" for t in layer_types])

    gemma_model.set_gguf_parameters = set_gguf_parameters

    # Adaptation 7: Gemma 4's converter reads only a SentencePiece-style BPE (byte fallback); the tiny
    # checkpoint's byte-level BPE goes the GPT-2 way, as Gemma 3's does.
    gemma4_model: Any = gemma.Gemma4Model
    original_gemma4_vocab = gemma4_model.set_vocab

    def set_gemma4_vocab(self: Any) -> None:
        try:
            original_gemma4_vocab(self)
        except FileNotFoundError:
            self._set_vocab_gpt2()

    gemma4_model.set_vocab = set_gemma4_vocab

    # Adaptation 6: a Qwen2.5-VL tower of full-attention layers only has no window pattern.
    from conversion import qwenvl  # type: ignore[import-not-found]

    qwen_vision: Any = qwenvl.Qwen2VLVisionModel
    original_qwen_params = qwen_vision.set_gguf_parameters

    def set_qwen_parameters(self: Any) -> None:
        original_qwen_params(self)
        full = self.hparams_vision.get("fullatt_block_indexes")
        if full is not None and len(full) == self.hparams_vision["depth"]:
            self.gguf_writer.add_vision_n_wa_pattern(0)

    qwen_vision.set_gguf_parameters = set_qwen_parameters


def _convert(vendor: Path, src: Path, out: Path, outtype: str, mmproj: bool) -> None:
    argv = [str(vendor / "convert_hf_to_gguf.py"), str(src), "--outfile", str(out), "--outtype", outtype]
    if mmproj:
        argv.append("--mmproj")
    elif json.loads((src / "config.json").read_text()).get("model_type") in {"qwen3_5", "qwen3_5_moe"}:
        argv.append("--no-mtp")  # the converter expects multi-token-prediction layers the tiny model has none of
    saved = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.argv = saved
    print(f"[make_gguf_fixtures] wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


def _copy_safetensors_renamed(src: Path, dst: Path, rename: dict[str, str]) -> None:
    """Copy a safetensors file, renaming tensor-name prefixes in its header (data streamed, never loaded)."""
    with src.open("rb") as fin:
        size = int.from_bytes(fin.read(8), "little")
        header = json.loads(fin.read(size))
        renamed = {}
        for key, value in header.items():
            for old, new in rename.items():
                if key.startswith(old):
                    key = new + key[len(old) :]
                    break
            renamed[key] = value
        raw = json.dumps(renamed).encode()
        raw += b" " * (-len(raw) % 8)  # keep the data section 8-byte aligned
        with dst.open("wb") as fout:
            fout.write(len(raw).to_bytes(8, "little"))
            fout.write(raw)
            shutil.copyfileobj(fin, fout, 16 * 1024 * 1024)


INTERNVL_RENAME = {"vision_tower.": "model.vision_tower.", "multi_modal_projector.": "model.multi_modal_projector."}


def _stage_internvl(hf_dir: Path, stage: Path) -> Path:
    """Adaptation 1: the ``-hf`` InternVL checkpoint seen through the original config layout."""
    config = json.loads((hf_dir / "config.json").read_text())
    text = dict(config["text_config"], architectures=["Qwen2ForCausalLM"])
    vision = dict(config["vision_config"], architectures=["InternVisionModel"])
    for key in ("image_size", "patch_size"):
        if isinstance(vision[key], list):
            vision[key] = vision[key][0]
    original = {
        "architectures": ["InternVLChatModel"],
        "model_type": "internvl_chat",
        "downsample_ratio": config["downsample_ratio"],
        "llm_config": text,
        "vision_config": vision,
        "force_image_size": vision["image_size"],
        "dynamic_image_size": True,
        "use_thumbnail": True,
        "min_dynamic_patch": 1,
        "max_dynamic_patch": 6,  # SPEC §3: at most 6 tiles
        "select_layer": config.get("vision_feature_layer", -1),
        "ps_version": "v2",
        "template": "internvl2_5",
    }
    stage.mkdir(parents=True, exist_ok=True)
    for item in hf_dir.iterdir():
        if item.suffix == ".safetensors":
            _copy_safetensors_renamed(item, stage / item.name, INTERNVL_RENAME)
        elif item.name == "model.safetensors.index.json":
            index = json.loads(item.read_text())
            weight_map = {}
            for key, shard in index["weight_map"].items():
                for old, new in INTERNVL_RENAME.items():
                    if key.startswith(old):
                        key = new + key[len(old) :]
                        break
                weight_map[key] = shard
            index["weight_map"] = weight_map
            (stage / item.name).write_text(json.dumps(index, indent=2))
        elif item.name != "config.json":
            (stage / item.name).symlink_to(item.resolve())
    (stage / "config.json").write_text(json.dumps(original, indent=2) + "\n")
    return stage


def _llava_mmproj(vendor: Path, hf_dir: Path, work: Path, out: Path) -> None:
    """Adaptation 1 for LLaVA-1.5: CLIP tower + MLP projector through the legacy image-encoder converter."""
    import torch
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(hf_dir, dtype=torch.float32)
    clip_dir = work / "clip"
    model.model.vision_tower.save_pretrained(clip_dir)
    vision_config = json.loads((clip_dir / "config.json").read_text())
    vision_config.setdefault("projection_dim", vision_config["hidden_size"])
    (clip_dir / "config.json").write_text(json.dumps(vision_config, indent=2))
    projector = {
        f"multi_modal_projector.{k}": v.detach().clone()
        for k, v in model.model.multi_modal_projector.state_dict().items()
    }
    torch.save(projector, work / "llava.projector")
    processor = json.loads((hf_dir / "preprocessor_config.json").read_text())
    script = vendor / "tools" / "mtmd" / "legacy-models" / "convert_image_encoder_to_gguf.py"
    argv = [
        str(script),
        "-m",
        str(clip_dir),
        "--llava-projector",
        str(work / "llava.projector"),
        "--output-dir",
        str(work / "out"),
        "--clip-model-is-vision",
        "--use-f32",
        "--image-mean",
        *map(str, processor["image_mean"]),
        "--image-std",
        *map(str, processor["image_std"]),
    ]
    # The legacy script predates transformers 5, whose CLIPVisionModel no longer
    # nests the tower under ``.vision_model``: hand it a wrapper that does.
    import transformers

    real = transformers.CLIPVisionModel

    class NestedCLIPVisionModel(torch.nn.Module):
        def __init__(self, tower: Any) -> None:
            super().__init__()
            self.vision_model = tower

        @classmethod
        def from_pretrained(cls, path: str) -> NestedCLIPVisionModel:
            return cls(real.from_pretrained(path, dtype=torch.float32))

    saved = sys.argv
    sys.argv = argv
    try:
        transformers.CLIPVisionModel = NestedCLIPVisionModel  # type: ignore[misc,assignment]
        runpy.run_path(argv[0], run_name="__main__")
    finally:
        transformers.CLIPVisionModel = real  # type: ignore[misc]
        sys.argv = saved
    shutil.move(work / "out" / "mmproj-model-f32.gguf", out)
    print(f"[make_gguf_fixtures] wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


def convert_pair(vendor: Path, hf_dir: Path, dest: Path, name: str, *, kind: str, text_type: str) -> None:
    """Write ``<name>.gguf`` (text model) and ``<name>-mmproj.gguf`` (vision projector) into ``dest``.

    ``kind``: ``internvl`` (staged, adaptation 1), ``llava`` (legacy projector
    converter) or ``native`` (both files straight from the checkpoint).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="oculi-gguf-") as tmp:
        src = _stage_internvl(hf_dir, Path(tmp) / "stage") if kind == "internvl" else hf_dir
        _convert(vendor, src, dest / f"{name}.gguf", text_type, mmproj=False)
        if kind == "llava":
            _llava_mmproj(vendor, hf_dir, Path(tmp), dest / f"{name}-mmproj.gguf")
        else:
            mmproj_type = "f32" if text_type == "f32" else "f16"
            _convert(vendor, src, dest / f"{name}-mmproj.gguf", mmproj_type, mmproj=True)


#: The tiny fixtures: name → (builder module, builder, kind).
TINY = {
    "tiny-internvl": ("checkpoints", "build_tiny_internvl", "internvl"),
    "tiny-llava": ("checkpoints", "build_tiny_llava", "llava"),
    "tiny-qwen2_5_vl": ("family_checkpoints", "build_tiny_qwen2_5_vl", "native"),
    "tiny-qwen3_vl": ("family_checkpoints", "build_tiny_qwen3_vl", "native"),
    "tiny-gemma3": ("family_checkpoints", "build_tiny_gemma3", "native"),
    "tiny-qwen3_5": ("family_checkpoints", "build_tiny_qwen3_5", "native"),
    "tiny-glm4v": ("glm", "build_tiny_glm4v", "native"),
    "tiny-glm4v_moe": ("glm", "build_tiny_glm4v_moe", "native"),
    "tiny-gemma4": ("gemma4", "build_tiny_gemma4", "native"),
}


#: Gemma 3 4B's attention as far as the KV cache sees it (34 layers, every 6th full attention, 4 KV heads of
#: 256, a 1024-token window, 128k positions); the other widths stay narrow: the KV cache's size does not
#: depend on them, and the bench that reads it (``bench/llamacpp_kv.py``) need not load 4 B random weights.
GEMMA3_4B_KV_SHAPE = {
    "num_hidden_layers": 34,
    "layer_types": ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(34)],
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "query_pre_attn_scalar": 256,
    "sliding_window": 1024,
    "max_position_embeddings": 131072,
    "hidden_size": 256,
    "intermediate_size": 512,
}


def thinking_text_model(vendor: Path, root: Path, out: Path) -> None:
    """``tiny-internvl-thinking.gguf``: the thinking checkpoint's text model (``oculi.testing.thinking``).

    Its vision tower is tiny-internvl's (same seed), so ``tiny-internvl-mmproj.gguf`` serves it.
    """
    from oculi.testing.thinking import build_tiny_internvl_thinking

    hf = build_tiny_internvl_thinking(root / "thinking")
    _convert(vendor, _stage_internvl(hf, root / "stage"), out / "tiny-internvl-thinking.gguf", "f32", mmproj=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(FIXTURES), help="Directory for the tiny fixtures.")
    parser.add_argument("--llama-cpp-dir", default=None, help="The vendored llama.cpp source directory.")
    parser.add_argument("--bench", default=None, help="Also build the InternVL3-1B-sized random model (Q8_0) here.")
    parser.add_argument(
        "--bench-gemma3", default=None, help="Also build a random model of Gemma 3 4B's KV shape (F16) here."
    )
    parser.add_argument("--skip-tiny", action="store_true", help="Only the --bench / --bench-gemma3 models.")
    parser.add_argument("--only", action="append", choices=sorted(TINY), help="Only these tiny fixtures.")
    parser.add_argument(
        "--thinking", action="store_true", help="Only the thinking text model (it shares tiny-internvl's mmproj)."
    )
    args = parser.parse_args()

    vendor = vendor_dir(args.llama_cpp_dir)
    _patch_converter(vendor)
    import importlib

    from oculi.testing.checkpoints import build_internvl3_1b_random

    with tempfile.TemporaryDirectory(prefix="oculi-hf-") as tmp:
        root = Path(tmp)
        if args.thinking:
            thinking_text_model(vendor, root, Path(args.out))
            return
        if not args.skip_tiny:
            for name in args.only or TINY:
                module, builder, kind = TINY[name]
                build = getattr(importlib.import_module(f"oculi.testing.{module}"), builder)
                convert_pair(vendor, build(root / name), Path(args.out), name, kind=kind, text_type="f32")
        if args.bench:
            hf = build_internvl3_1b_random(root / "internvl3-1b", dtype="float32")
            convert_pair(vendor, hf, Path(args.bench), "internvl3-1b-random", kind="internvl", text_type="q8_0")
            shutil.rmtree(hf, ignore_errors=True)
        if args.bench_gemma3:
            from oculi.testing.family_checkpoints import build_tiny_gemma3

            hf = build_tiny_gemma3(root / "gemma3-kv", text_sizes=GEMMA3_4B_KV_SHAPE)
            convert_pair(vendor, hf, Path(args.bench_gemma3), "gemma3-4b-kv-random", kind="native", text_type="f16")


if __name__ == "__main__":
    main()

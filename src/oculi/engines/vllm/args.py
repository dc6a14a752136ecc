"""oculi settings → vLLM's ``AsyncEngineArgs``: the scaling knobs passed through, ``--vllm-arg`` checked.

vLLM's own argument names are used unchanged (``tensor_parallel_size`` …), so
vLLM's documentation applies as written; oculi only picks defaults that suit
it (prefix caching on, request logging off) and sets what its engine needs
(for a family whose views are one stacked image, InternVL, oculi's tiled
architecture through ``hf_overrides``; for the others the family's processor
pins, ``Family.vllm_processor_kwargs``, so vLLM's processor keeps SPEC §3's
images at their size).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from oculi import families
from oculi.errors import ConfigurationError
from oculi.settings import Settings

#: Engine arguments oculi sets itself: a ``--vllm-arg`` may not override them (it would break the adapter).
RESERVED = frozenset({"model", "tokenizer", "skip_tokenizer_init", "structured_outputs_config"})

#: vLLM's structured-output backend: llguidance, the compiler oculi's grammars are written for (Lark with
#: ``%json`` embeds, compact JSON separators), so vLLM decodes under exactly what the other engines do.
STRUCTURED_OUTPUTS_CONFIG = {"backend": "guidance"}


def parse_extra_args(items: list[str], known: set[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings → kwargs; ``KEY`` may use dashes; ``VALUE`` is JSON when it parses as JSON.

    Raises ``ConfigurationError`` naming a malformed item or an unknown / reserved key.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().removeprefix("--").replace("-", "_")
        if not sep or not key:
            raise ConfigurationError(f"--vllm-arg {item!r}: expected KEY=VALUE, e.g. max_num_batched_tokens=8192.")
        if key not in known:
            raise ConfigurationError(
                f"--vllm-arg {item!r}: vLLM has no engine argument {key!r} (see `AsyncEngineArgs` in vLLM's docs)."
            )
        if key in RESERVED:
            raise ConfigurationError(f"--vllm-arg {item!r}: {key!r} is set by oculi and cannot be overridden.")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key] = value
    return out


def engine_kwargs(
    model: str, settings: Settings, known: set[str], *, family: families.Family | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``AsyncEngineArgs`` for serving ``model`` (a local directory) with ``settings``."""
    kwargs: dict[str, Any] = {
        "model": model,
        "tokenizer": model,
        "dtype": settings.dtype,
        "tensor_parallel_size": settings.vllm_tensor_parallel_size,
        "pipeline_parallel_size": settings.vllm_pipeline_parallel_size,
        "data_parallel_size": settings.vllm_data_parallel_size,
        "distributed_executor_backend": settings.vllm_distributed_executor_backend,
        "gpu_memory_utilization": settings.vllm_gpu_memory_utilization,
        "max_model_len": settings.vllm_max_model_len,
        "quantization": settings.vllm_quantization,
        "max_num_seqs": settings.max_batch_size,
        "enforce_eager": settings.vllm_enforce_eager,
        "enable_prefix_caching": settings.vllm_prefix_caching,
        "enable_log_requests": False,
        "disable_log_stats": True,
        "structured_outputs_config": dict(STRUCTURED_OUTPUTS_CONFIG),
    }
    kwargs.update(parse_extra_args(settings.vllm_args, known))
    pins = family.vllm_processor_kwargs() if family is not None else {}
    if pins:
        given = kwargs.get("mm_processor_kwargs")
        kwargs["mm_processor_kwargs"] = {**(given if isinstance(given, dict) else {}), **pins}
    if family is not None and family.grouping is families.Grouping.STACK:
        from oculi.engines.vllm.plugin import ARCHITECTURE

        overrides = kwargs.get("hf_overrides")
        kwargs["hf_overrides"] = {**(overrides if isinstance(overrides, dict) else {}), "architectures": [ARCHITECTURE]}
    return {k: v for k, v in kwargs.items() if v is not None}


def known_fields(args_class: type) -> set[str]:
    """The field names of vLLM's ``AsyncEngineArgs`` dataclass."""
    return {f.name for f in dataclasses.fields(args_class)}

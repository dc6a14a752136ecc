"""The vLLM engine: vLLM's ``AsyncLLM`` behind oculi's ``Engine`` protocol (see ``engine.py``).

Modules: ``engine`` (the adapter, ``load``), ``args`` (settings → vLLM engine
arguments, ``--vllm-arg`` checking), ``prompt`` (conversation → vLLM prompt
with images and their content-hash ids), ``tiles`` (the processor that feeds
InternVL SPEC §3 views inside vLLM), ``plugin`` (registers it in every vLLM
process). Importing this package does not import vLLM; loading a model does.
"""

from oculi.engines.vllm.engine import VLLMEngine, is_available, load

__all__ = ["VLLMEngine", "is_available", "load"]

"""vLLM general plugin: registers oculi's tiled InternVL model class (``tiles.py``) and reasoning parser by name.

vLLM runs its engine core and workers in other processes, which only know
model classes registered there too. vLLM calls every ``vllm.general_plugins``
entry point in each of its processes; ``pyproject.toml`` declares ``register``
as one. The engine also calls it before starting vLLM (for an environment
whose entry points were installed before this plugin existed). Registration
is by ``module:class`` string, so the plugin imports nothing heavy.
"""

from __future__ import annotations

#: The architecture name the engine asks vLLM for (through ``hf_overrides``).
ARCHITECTURE = "OculiInternVLForConditionalGeneration"
MODEL_CLASS = "oculi.engines.vllm.tiles:OculiInternVLForConditionalGeneration"


def register() -> None:
    """Make ``ARCHITECTURE`` known to vLLM's model registry (idempotent)."""
    from vllm import ModelRegistry

    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, MODEL_CLASS)
    register_reasoner()


def register_reasoner() -> None:
    """Make oculi's reasoning parser (``reasoner.py``) known to vLLM by name, lazily (idempotent)."""
    from vllm.reasoning import ReasoningParserManager

    ReasoningParserManager.register_lazy_module("oculi", "oculi.engines.vllm.reasoner", "OculiReasoningParser")

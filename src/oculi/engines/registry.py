"""Loading engines by model spec, and resolving request model names.

A model spec is ``oculi-lite`` (the built-in engine), GGUF files (a ``.gguf``
file, a directory of them or a ``*-GGUF`` hub repo: the llama.cpp engine, with
its ``mmproj``), or a local directory / hub id (the transformers engine).
``settings.engine`` (``--engine``) overrides that choice: ``hf``, ``llamacpp``
or ``vllm`` serve every model spec except ``oculi-lite``.
Engine modules are imported lazily so that a server serving only one kind
never imports the others' heavy libraries.
"""

from __future__ import annotations

import fnmatch
import logging

from oculi.engines.base import Engine
from oculi.errors import ModelNotFound
from oculi.settings import LITE_MODEL, Settings

log = logging.getLogger(__name__)

#: Names every client of the hosted API sends; they mean "the default model" here.
DEFAULT_ALIAS_PATTERNS = ("grok-*",)


def load_engine(spec: str, settings: Settings, *, mmproj: str | None = None) -> Engine:
    """Load one engine for ``spec`` (see module docstring)."""
    if spec == LITE_MODEL:
        from oculi.engines import lite

        return lite.load(settings)
    if settings.engine == "vllm":
        from oculi.engines import vllm  # light: vllm itself is imported only when loading

        return vllm.load(spec, settings)
    from oculi.engines import llamacpp  # light: llama_cpp itself is imported only when loading

    if settings.engine == "llamacpp" or (settings.engine == "auto" and (mmproj is not None or llamacpp.handles(spec))):
        return llamacpp.load(spec, mmproj, settings)
    from oculi.engines import hf

    return hf.load(spec, settings)


class EngineRegistry:
    """The served engines; the first is the default model.

    ``resolve`` accepts a model id, a configured alias, or any name matching
    ``DEFAULT_ALIAS_PATTERNS`` (mapped to the default model).
    """

    def __init__(self, engines: list[Engine], aliases: dict[str, str] | None = None) -> None:
        if not engines:
            raise ValueError("EngineRegistry needs at least one engine")
        self._engines = {e.info.id: e for e in engines}
        self.default = engines[0]
        self.aliases = dict(aliases or {})

    @classmethod
    def load(cls, settings: Settings) -> EngineRegistry:
        """Load every model the settings name (``oculi-lite`` when none)."""
        specs = settings.model_specs()
        engines = []
        for i, spec in enumerate(specs):
            mmproj = settings.mmproj[i] if i < len(settings.mmproj) else None
            engines.append(load_engine(spec, settings, mmproj=mmproj))
        if settings.models and LITE_MODEL not in specs:
            # The lite engine costs little and answers when no VLM fits the question.
            try:
                engines.append(load_engine(LITE_MODEL, settings))
            except Exception:  # an optional extra: a missing lite model must not stop a VLM server
                log.warning("oculi-lite could not be loaded; serving only %s", specs, exc_info=True)
        return cls(engines, settings.aliases)

    def ids(self) -> list[str]:
        """Served model ids, default first."""
        return list(self._engines)

    def engines(self) -> list[Engine]:
        return list(self._engines.values())

    def alias_names(self, engine: Engine) -> list[str]:
        """Configured aliases that point at ``engine``."""
        return [a for a, target in self.aliases.items() if target == engine.info.id]

    def resolve(self, name: str) -> Engine:
        """The engine serving ``name``, or ``ModelNotFound`` (404)."""
        if name in self._engines:
            return self._engines[name]
        target = self.aliases.get(name)
        if target is not None and target in self._engines:
            return self._engines[target]
        if any(fnmatch.fnmatchcase(name, p) for p in DEFAULT_ALIAS_PATTERNS):
            return self.default
        raise ModelNotFound(name, self.ids())

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()

"""The llama.cpp engine: GGUF + mmproj through libllama / libmtmd (see ``engine.py``).

Modules: ``engine`` (the ``Engine`` adapter, ``handles`` and ``load``),
``files`` (GGUF resolution and metadata), ``projector`` (the projector's family
and whether mtmd takes its SPEC §3 views exactly), ``prompt`` (template
pieces and bitmaps), ``native`` (the ctypes calls into libllama / libmtmd), ``worker``
(the thread that owns the context and decodes parallel sequences),
``text`` (incremental detokenization). Importing this package does not import
``llama_cpp``; that happens only when a model is loaded.
"""

from oculi.engines.llamacpp.engine import LlamaCppEngine, handles, is_available, load

__all__ = ["LlamaCppEngine", "handles", "is_available", "load"]

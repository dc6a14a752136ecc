"""The native side of the llama.cpp engine: libllama + libmtmd objects and the calls on them.

``Native`` owns the model, a context of ``n_seq`` parallel sequences (one KV
stream each), the mtmd vision context, a reusable batch and the cache of
encoded image embeddings. Its methods run on the worker thread (``worker.py``)
(llama.cpp contexts are not thread-safe), except the vocabulary helpers
(``tokenize``, ``piece``, ``token_text``, ``meta``), which only read the model.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oculi.domain import GenerationParams
from oculi.engines.llamacpp.prompt import MTMD_MARKER, Bitmap
from oculi.errors import ImageError

DEFAULT_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: a random seed per sampler


@dataclass(frozen=True)
class ImageChunk:
    """An image chunk of a prompt: ``n_tokens`` embeddings taking ``n_pos`` positions."""

    key: str
    n_tokens: int
    n_pos: int
    ptr: Any  # mtmd_input_chunk*, owned by a chunk list of the request


Unit = int | ImageChunk


class EmbeddingCache:
    """Encoded image embeddings by chunk key, least recently used evicted past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        """The cached embeddings of ``key`` (counted as a hit or a miss)."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        """Keep ``value``, evicting the least recently used past the budget."""
        if value.nbytes > self.max_bytes:
            return
        self._items[key] = value
        self._bytes += value.nbytes
        while self._bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes


class Native:
    """The loaded model, its context of parallel sequences and the vision context."""

    def __init__(
        self,
        text_path: Path,
        mmproj_path: Path,
        *,
        n_ctx_seq: int,
        n_seq: int,
        n_threads: int,
        embed_cache_bytes: int,
        n_batch: int = 2048,
        n_ubatch: int = 512,
        verbose: bool = False,
    ) -> None:
        import llama_cpp
        from llama_cpp import _logger, mtmd_cpp

        self._ll, self._mt = llama_cpp, mtmd_cpp
        _logger.set_verbose(verbose)
        mtmd_cpp.mtmd_log_set(_logger.llama_log_callback, None)
        mtmd_cpp.mtmd_helper_log_set(_logger.llama_log_callback, None)
        llama_cpp.llama_backend_init()

        mparams = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(str(text_path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {text_path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self.model))
        n_ctx_seq = min(n_ctx_seq, n_ctx_train) if n_ctx_train > 0 else n_ctx_seq
        self.n_seq = n_seq
        self.n_batch = n_batch

        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx_seq * n_seq
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_ubatch
        cparams.n_seq_max = n_seq
        cparams.kv_unified = False  # a KV stream per sequence: attention cost follows each one's length
        # Sliding-window layers (Gemma 3 and 4) keep only the last window of each sequence, as in
        # llama-server (about 1/7 of the full-context KV for Gemma 3): a slot's KV can then be cut back only
        # to a prefix whose window is still held (``holds_prefix``); llama.cpp's seq_rm reports success
        # either way, so the worker asks before it reuses a prefix and reads the prompt whole otherwise.
        self.swa = int(llama_cpp.llama_model_n_swa(self.model))
        #: Whether a sequence's KV can be cut back to a prefix: not when a layer keeps a recurrent state
        #: (Qwen3.5's linear attention, Mamba), which holds only the end of what it read.
        self.trimmable = not (
            llama_cpp.llama_model_is_recurrent(self.model) or llama_cpp.llama_model_is_hybrid(self.model)
        )
        cparams.swa_full = False  # (llama.cpp's default is True: a full-context cache for every layer)
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            llama_cpp.llama_model_free(self.model)
            raise RuntimeError("llama.cpp could not create a context")
        self.n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(self.ctx))
        self.mem = llama_cpp.llama_get_memory(self.ctx)

        vparams = mtmd_cpp.mtmd_context_params_default()
        vparams.use_gpu = False
        vparams.print_timings = verbose
        vparams.n_threads = n_threads
        # The warm-up encode (one blank tile at load, as llama-server does) allocates the vision graph
        # before the first request and is where clip resolves flash attention "auto" (to enabled on
        # the CPU); without it the tower runs plain attention, unlike llama-server's.
        vparams.warmup = True
        vparams.media_marker = MTMD_MARKER.encode()
        self.mtmd = mtmd_cpp.mtmd_init_from_file(str(mmproj_path).encode(), self.model, vparams)
        if not self.mtmd:
            llama_cpp.llama_free(self.ctx)
            llama_cpp.llama_model_free(self.model)
            raise RuntimeError(f"libmtmd could not load the projector {mmproj_path}")
        self.n_embd = int(llama_cpp.llama_model_n_embd_inp(self.model))
        self.cache = EmbeddingCache(embed_cache_bytes)
        self._batch = llama_cpp.llama_batch_init(max(n_batch, n_seq), 0, 1)

    def close(self) -> None:
        """Free every native object (the worker must have stopped)."""
        self._ll.llama_batch_free(self._batch)
        self._mt.mtmd_free(self.mtmd)
        self._ll.llama_free(self.ctx)
        self._ll.llama_model_free(self.model)

    # --- vocabulary (read-only: any thread) ------------------------------------------
    def tokenize(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        """Token ids of ``text``."""
        data = text.encode("utf-8")
        size = len(data) + 8
        buf = (self._ll.llama_token * size)()
        n = self._ll.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        if n < 0:
            size = -n
            buf = (self._ll.llama_token * size)()
            n = self._ll.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token."""
        buf = ctypes.create_string_buffer(64)
        n = self._ll.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def token_text(self, token: int) -> str:
        """The text of a special or ordinary token (for the chat template's bos/eos)."""
        return self.piece(token, special=True).decode("utf-8", errors="replace") if token >= 0 else ""

    def add_bos(self) -> bool:
        """Whether the tokenizer starts a prompt with BOS."""
        return bool(self._ll.llama_vocab_get_add_bos(self.vocab))

    def bos(self) -> int:
        """The BOS token id (-1 when none)."""
        return int(self._ll.llama_vocab_bos(self.vocab))

    def eos(self) -> int:
        """The EOS token id (-1 when none)."""
        return int(self._ll.llama_vocab_eos(self.vocab))

    def is_eog(self, token: int) -> bool:
        """End of generation (EOS, EOT, ...)."""
        return bool(self._ll.llama_vocab_is_eog(self.vocab, token))

    def meta(self, key: str) -> str | None:
        """A metadata string of the text model."""
        buf = ctypes.create_string_buffer(4096)
        n = self._ll.llama_model_meta_val_str(self.model, key.encode(), buf, 4096)
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        """The GGUF's ``tokenizer.chat_template``."""
        raw = self._ll.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8") if raw else None

    def describe(self) -> tuple[str, int]:
        """llama.cpp's one-line description (e.g. ``qwen2 1B Q8_0``) and the parameter count."""
        buf = ctypes.create_string_buffer(256)
        n = self._ll.llama_model_desc(self.model, buf, 256)
        return (buf.value.decode("utf-8", errors="replace") if n > 0 else ""), int(
            self._ll.llama_model_n_params(self.model)
        )

    # --- images ------------------------------------------------------------------------
    def image_chunks(self, width: int, height: int) -> list[int]:
        """Token counts of the image chunks mtmd makes of a blank ``width × height`` bitmap (no encoding)."""
        lists: list[Any] = []
        try:
            units = self.bitmap_units(Bitmap("probe", width, height, bytes(width * height * 3), wrapped=False), lists)
        finally:
            self.free_chunks(lists)
        return [u.n_tokens for u in units if isinstance(u, ImageChunk)]

    def bitmap_units(self, bitmap: Bitmap, chunk_lists: list[Any]) -> list[Unit]:
        """mtmd's chunks for one bitmap: its image chunks, plus its wrapper tokens when ``bitmap.wrapped``.

        The chunk list is appended to ``chunk_lists``; the caller frees it
        (``free_chunks``) once the image chunks have been evaluated.
        """
        mt = self._mt
        data = (ctypes.c_uint8 * len(bitmap.rgb)).from_buffer_copy(bitmap.rgb)
        handle = mt.mtmd_bitmap_init(bitmap.width, bitmap.height, data)
        chunks = mt.mtmd_input_chunks_init()
        chunk_lists.append(chunks)
        marker = MTMD_MARKER.encode()
        text = mt.mtmd_input_text(marker, len(marker), False, True)
        bitmaps = (mt.mtmd_bitmap_p_ctypes * 1)(handle)
        rc = mt.mtmd_tokenize(self.mtmd, chunks, ctypes.byref(text), bitmaps, 1)
        mt.mtmd_bitmap_free(handle)
        if rc != 0:
            raise ImageError(f"the vision encoder could not preprocess it (mtmd error {rc}).")
        units: list[Unit] = []
        n_image = 0
        for i in range(mt.mtmd_input_chunks_size(chunks)):
            chunk = mt.mtmd_input_chunks_get(chunks, i)
            if mt.mtmd_input_chunk_get_type(chunk) == mt.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                n_tok = int(mt.mtmd_input_chunk_get_n_tokens(chunk))
                n_pos = int(mt.mtmd_input_chunk_get_n_pos(chunk))
                units.append(ImageChunk(f"{bitmap.key}#{n_image}", n_tok, n_pos, chunk))
                n_image += 1
            elif bitmap.wrapped:
                n = ctypes.c_size_t(0)
                ids = mt.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                units.extend(ids[k] for k in range(n.value))
        return units

    def free_chunks(self, chunk_lists: list[Any]) -> None:
        """Free chunk lists made by ``bitmap_units``."""
        for chunks in chunk_lists:
            self._mt.mtmd_input_chunks_free(chunks)
        chunk_lists.clear()

    # --- evaluation ----------------------------------------------------------------------
    def decode_tokens(self, seq_id: int, tokens: list[int], n_past: int, *, logits_last: bool) -> int:
        """Evaluate prompt tokens of one sequence (at most ``n_batch``); the new position."""
        b = self._batch
        for j, token in enumerate(tokens):
            b.token[j] = token
            b.pos[j] = n_past + j
            b.n_seq_id[j] = 1
            b.seq_id[j][0] = seq_id
            b.logits[j] = logits_last and j == len(tokens) - 1
        b.n_tokens = len(tokens)
        rc = self._ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc}) while reading the prompt")
        return n_past + len(tokens)

    def decode_image(self, seq_id: int, chunk: ImageChunk, n_past: int) -> int:
        """Evaluate an image chunk (encoded, or taken from the embedding cache); the new position."""
        mt = self._mt
        embd = self.cache.get(chunk.key)
        if embd is None:
            if mt.mtmd_encode_chunk(self.mtmd, chunk.ptr) != 0:
                raise RuntimeError("the vision encoder failed")
            out = mt.mtmd_get_output_embd(self.mtmd)
            embd = np.ctypeslib.as_array(out, shape=(chunk.n_tokens * self.n_embd,)).copy()
            self.cache.put(chunk.key, embd)
        new_n_past = self._ll.llama_pos(0)
        rc = mt.mtmd_helper_decode_image_chunk(
            self.mtmd,
            self.ctx,
            chunk.ptr,
            embd.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            n_past,
            seq_id,
            self.n_batch,
            ctypes.byref(new_n_past),
            mt.mtmd_helper_post_decode_callback(),  # a NULL callback
            None,
        )
        if rc != 0:
            raise RuntimeError(f"decoding image embeddings failed ({rc})")
        return int(new_n_past.value)

    def decode_step(self, items: list[tuple[int, int, int]]) -> None:
        """One token for each ``(seq_id, token, position)`` in a single batch, logits for all."""
        b = self._batch
        for j, (seq_id, token, pos) in enumerate(items):
            b.token[j] = token
            b.pos[j] = pos
            b.n_seq_id[j] = 1
            b.seq_id[j][0] = seq_id
            b.logits[j] = True
        b.n_tokens = len(items)
        rc = self._ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc})")

    # --- sequences and sampling ----------------------------------------------------------
    def holds_prefix(self, seq_id: int, n_pos: int) -> bool:
        """Whether a sequence's KV, cut back to its first ``n_pos`` positions, still holds what the next
        position attends to.

        Always, but for sliding-window layers: they keep the positions ``[pos_min, pos_max]`` of a sequence
        (llama.cpp drops older cells as the window moves on) and a query at ``n_pos`` attends to keys
        above ``n_pos - n_swa``, so the cut must leave ``pos_min <= n_pos - n_swa + 1`` — the test
        llama-server makes before it reuses a slot's prompt (its context checkpoints aside).
        """
        if self.swa <= 0 or n_pos <= 0:
            return True
        pos_min = int(self._ll.llama_memory_seq_pos_min(self.mem, seq_id))
        return pos_min == 0 or 0 <= pos_min <= n_pos - self.swa + 1

    def keep_prefix(self, seq_id: int, n_pos: int) -> bool:
        """Drop a sequence's KV from position ``n_pos`` on (False if only a full clear works)."""
        if not self.holds_prefix(seq_id, n_pos):
            return False
        return bool(self._ll.llama_memory_seq_rm(self.mem, seq_id, n_pos, -1))

    def clear(self, seq_id: int) -> None:
        """Drop a sequence's whole KV."""
        self._ll.llama_memory_seq_rm(self.mem, seq_id, -1, -1)

    def copy(self, src: int, dst: int) -> None:
        """Make ``dst``'s KV a copy of ``src``'s (n > 1 choices share the prompt)."""
        self._ll.llama_memory_seq_rm(self.mem, dst, -1, -1)
        self._ll.llama_memory_seq_cp(self.mem, src, dst, -1, -1)

    def sampler(self, params: GenerationParams, index: int) -> Any:
        """A sampler chain for one choice: greedy at temperature 0, else top-p → temperature → seeded draw."""
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            return chain
        if params.top_p < 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(params.temperature))
        seed = DEFAULT_SEED if params.seed is None else (params.seed + index) & 0xFFFFFFFF
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def logits(self, index: int) -> np.ndarray:
        """The context's logits row of batch row ``index`` (-1: the last), as a writable view (no copy)."""
        n_vocab = int(self._ll.llama_vocab_n_tokens(self.vocab))
        pointer = self._ll.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))

    def sample(self, sampler: Any, index: int) -> int:
        """Sample from the logits of batch row ``index`` (-1: the last row with logits)."""
        return int(self._ll.llama_sampler_sample(sampler, self.ctx, index))

    def free_sampler(self, sampler: Any) -> None:
        self._ll.llama_sampler_free(sampler)

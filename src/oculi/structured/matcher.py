"""Token-level constraints for engines that sample themselves (transformers, llama.cpp).

``Constraints`` belongs to one loaded model: it wraps the model's vocabulary
as an llguidance ``LLTokenizer`` once, and keeps a bounded LRU of compiled
matchers by grammar hash, so a request with a schema seen before only
copies a ready matcher (``deep_copy``, microseconds) instead of compiling.

A ``TokenConstraint`` follows one sequence: ``mask(logits)`` sets every token
the grammar forbids next to ``-inf`` (llguidance computes the allowed set as a
bitmask; numpy unpacks it), ``advance(token)`` moves the matcher on, and
``done`` says the grammar is complete so the sequence ends there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from oculi.structured.grammar import CACHE_SIZE, Grammar


class TokenConstraint:
    """One sequence's grammar state (see module docstring); not thread-safe, owned by the engine's loop."""

    def __init__(self, matcher: Any, vocab_size: int) -> None:
        self.matcher = matcher
        self.vocab_size = vocab_size
        self.words = (vocab_size + 31) // 32

    def allowed(self) -> np.ndarray:
        """A boolean array over the tokenizer's vocabulary: may this token come next?"""
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[: self.vocab_size].astype(bool)

    def mask(self, logits: Any) -> Any:
        """``logits`` (a 1-D CPU torch tensor or numpy array, model vocabulary) with forbidden tokens at ``-inf``.

        Done in place through numpy (a CPU tensor shares its memory): boolean
        indexing in torch costs more than the mask itself on small vocabularies.
        """
        values = logits if isinstance(logits, np.ndarray) else logits.numpy()
        allowed = self.allowed()
        n = min(values.shape[-1], allowed.shape[0])
        head = values[:n]
        head[~allowed[:n]] = -np.inf
        values[n:] = -np.inf  # the model's padding beyond the tokenizer's vocabulary
        return logits

    def advance(self, token: int) -> bool:
        """Consume a sampled token; False if the grammar refused it (never, when the mask was applied)."""
        return bool(self.matcher.consume_token(token))

    @property
    def done(self) -> bool:
        """The grammar is complete (only end-of-sequence may follow) or broken: end the sequence."""
        return bool(self.matcher.is_stopped())

    @property
    def error(self) -> str:
        """Why the matcher failed, empty when it did not."""
        return str(self.matcher.get_error())


class Constraints:
    """Compiled matchers for one model's vocabulary (see module docstring)."""

    def __init__(self, tokenizer: Any, vocab_size: int, cache_size: int = CACHE_SIZE) -> None:
        self.tokenizer = tokenizer  # an llguidance.LLTokenizer
        self.vocab_size = vocab_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_hf(cls, hf_tokenizer: Any, eos_token_ids: set[int]) -> Constraints:
        """From a transformers fast tokenizer (its own vocabulary; the model's may be padded larger)."""
        import llguidance.hf

        tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer, eos_token=sorted(eos_token_ids) or None)
        return cls(tokenizer, tokenizer.vocab_size)

    @classmethod
    def for_llamacpp(cls, vocab: Any) -> Constraints:
        """From a llama.cpp vocabulary pointer (``llama_model_get_vocab``)."""
        import warnings

        import llguidance.llamacpp

        with warnings.catch_warnings():  # it reads token attributes through a binding deprecated upstream
            warnings.simplefilter("ignore", DeprecationWarning)
            tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab)
        return cls(tokenizer, tokenizer.vocab_size)

    def start(self, grammar: Grammar) -> TokenConstraint:
        """A fresh constraint for one sequence, from the cached compiled matcher when there is one."""
        with self._lock:
            pristine = self._cache.get(grammar.key)
            if pristine is not None:
                self._cache.move_to_end(grammar.key)
        if pristine is None:
            import llguidance

            pristine = llguidance.LLMatcher(self.tokenizer, grammar.text, log_level=0)
            if pristine.is_error():
                raise ValueError(f"grammar failed to compile: {pristine.get_error()}")
            with self._lock:
                self._cache[grammar.key] = pristine
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return TokenConstraint(pristine.deep_copy(), self.vocab_size)

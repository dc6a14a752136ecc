"""The llama.cpp worker's slots: which slot a prompt goes to, and how much KV it can reuse there.

A slot is one llama.cpp sequence; it keeps its KV after its request ends and
remembers what it holds, unit by unit (a token id, or an image chunk's
content key with its width in positions). A prompt goes to the free slot
sharing its longest prefix; when another slot, even a busy one, shares at
least ``MIN_COPY_GAIN`` more prompt tokens, that slot's KV stream is copied
over instead. What may be reused is what the KV can be cut back to:

- nothing, for a model with recurrent layers (Qwen3.5's linear attention):
  a state holds only the end of what it read;
- for sliding-window layers (Gemma 3 and 4), which keep only the last
  window of a sequence, a prefix whose window is still held
  (``Native.holds_prefix``);
- never the whole prompt: its last unit is read again for its logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oculi.engines.llamacpp.native import Native, Unit

#: Prompt tokens another slot must share beyond this slot's own prefix before its KV is copied over.
MIN_COPY_GAIN = 32


def unit_key(unit: Unit) -> int | str:
    """What a slot remembers of a unit: the token id, or the image chunk's content key."""
    return unit if isinstance(unit, int) else unit.key


def prompt_tokens(units: list[Unit]) -> int:
    """Prompt tokens of ``units`` (an image chunk counts its embeddings)."""
    return sum(1 if isinstance(u, int) else u.n_tokens for u in units)


def common_prefix(a: list[int | str], b: list[int | str]) -> int:
    """How many leading keys ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Slot:
    """A llama.cpp sequence id and what its KV stream holds (one key and width per evaluated unit)."""

    seq_id: int
    keys: list[int | str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    busy: bool = False


class Slots:
    """The context's sequences and what each holds (see module docstring)."""

    def __init__(self, native: Native) -> None:
        self.native = native
        self.all = [Slot(i) for i in range(native.n_seq)]

    def free(self) -> int:
        return sum(not s.busy for s in self.all)

    def pick(self, keys: list[int | str], n: int) -> list[Slot]:
        """The free slot sharing the longest prefix with the prompt's ``keys``, plus ``n - 1`` others (now busy)."""
        free = sorted((s for s in self.all if not s.busy), key=lambda s: (-common_prefix(s.keys, keys), len(s.keys)))
        slots = free[:n]
        for slot in slots:
            slot.busy = True
        return slots

    def reset(self, slot: Slot) -> None:
        """Forget a slot's KV (after a failure its contents are not known for sure)."""
        self.native.clear(slot.seq_id)
        slot.keys, slot.positions, slot.busy = [], [], False

    def reuse(self, main: Slot, slots: list[Slot], units: list[Unit], keys: list[int | str], done: int) -> int:
        """How many of the prompt's ``units`` (``keys``: theirs) ``main`` holds once the best KV donor is copied in
        (``done`` are read).

        ``main`` keeps its own prefix unless another slot outside ``slots`` shares
        at least ``MIN_COPY_GAIN`` more prompt tokens: then that slot's KV stream
        is copied into ``main`` (the caller trims it).
        """
        if not self.native.trimmable:
            return done
        last = len(units) - 1
        own = min(max(done, common_prefix(main.keys, keys)), last)
        if own > done and not self.holds(main, own):
            own = done
        donors = [(min(common_prefix(s.keys, keys), last), s) for s in self.all if s not in slots]
        best, donor = max(((n, s) for n, s in donors if self.holds(s, n)), key=lambda d: d[0], default=(0, None))
        if donor is not None and prompt_tokens(units[own:best]) >= MIN_COPY_GAIN:
            self.native.copy(donor.seq_id, main.seq_id)
            main.keys, main.positions, own = list(donor.keys), list(donor.positions), best
        return own

    def holds(self, slot: Slot, n_units: int) -> bool:
        """Whether ``slot``'s KV cut back to its first ``n_units`` units is still whole (sliding windows)."""
        return self.native.holds_prefix(slot.seq_id, sum(slot.positions[:n_units]))

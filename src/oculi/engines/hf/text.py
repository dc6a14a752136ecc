"""Incremental detokenisation with stop sequences.

Tokens do not map one-to-one to characters (a character can span several
byte-level tokens; a stop string can span several tokens), so each step
decodes the sequence so far and sends only the new, settled text: text that
ends in an incomplete character, or that could still grow into a stop
sequence, is held back until the next token decides it.

Special tokens are left out of the text, except ``keep``: a thinking model's
tags that are special tokens (Gemma 4's ``<|channel>`` / ``<channel|>``),
which the pipeline's reasoning split needs to see.
"""

from __future__ import annotations

from typing import Any

_INCOMPLETE = "\ufffd"


class TextStream:
    """The text of one generated sequence, released delta by delta."""

    def __init__(self, tokenizer: Any, stop: list[str], keep: frozenset[int] = frozenset()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.keep = keep
        self.ids: list[int] = []
        self.text = ""
        self.sent = 0  # characters of ``text`` already released

    def push(self, token_id: int) -> tuple[str, bool]:
        """Add a token; return the newly settled text and whether a stop sequence ended the text."""
        self.ids.append(token_id)
        self.text = self._decode()
        cut = self._stop_at()
        if cut is not None:
            delta = self.text[self.sent : cut]
            self.sent = cut
            self.text = self.text[:cut]
            return delta, True
        settled = len(self.text.rstrip(_INCOMPLETE)) - self._held_suffix()
        if settled <= self.sent:
            return "", False
        delta = self.text[self.sent : settled]
        self.sent = settled
        return delta, False

    def _decode(self) -> str:
        if not self.keep or not self.keep.intersection(self.ids):
            return str(self.tokenizer.decode(self.ids, skip_special_tokens=True))
        pieces: list[str] = []
        run: list[int] = []
        for token in self.ids:  # the runs between kept tokens decode as usual; a kept token is its own text
            if token in self.keep:
                pieces.append(self.tokenizer.decode(run, skip_special_tokens=True))
                pieces.append(self.tokenizer.decode([token], skip_special_tokens=False))
                run = []
            else:
                run.append(token)
        pieces.append(self.tokenizer.decode(run, skip_special_tokens=True))
        return "".join(pieces)

    def flush(self) -> str:
        """Release whatever is held back (the sequence ended for another reason)."""
        delta = self.text[self.sent :]
        self.sent = len(self.text)
        return delta

    def _stop_at(self) -> int | None:
        """Index where the earliest stop sequence starts, if one occurs in the text."""
        best = None
        # Everything before ``sent`` was checked already; a match may still start a little earlier.
        for s in self.stop:
            i = self.text.find(s, max(0, self.sent - len(s) + 1))
            if i >= 0 and (best is None or i < best):
                best = i
        return best

    def _held_suffix(self) -> int:
        """Length of the longest tail of the text that is a proper prefix of a stop sequence."""
        text = self.text.rstrip(_INCOMPLETE)
        held = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(text)), held, -1):
                if text.endswith(s[:k]):
                    held = k
                    break
        return held

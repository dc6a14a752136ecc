"""The lite engine's token count: words and punctuation marks, documented and deterministic.

oculi-lite has no language model and so no tokenizer of its own, and no
tokenizer ships inside an installed package. It counts one token per word
(a run of letters, digits or underscores) and one per other non-space
character, each piece carrying the whitespace before it, so the pieces of a
text join back to exactly that text. Ids are a stable hash of the piece.
Streaming sends one piece per delta, so ``completion_tokens`` equals the
number of deltas carrying text.
"""

from __future__ import annotations

import re
import zlib

from oculi.domain import Conversation
from oculi.engines.base import Token

_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
#: Tokens counted per message for its role marker, like a chat template's header.
TOKENS_PER_MESSAGE = 1


def pieces(text: str) -> list[str]:
    """``text`` cut into token pieces; ``"".join(pieces(t)) == t``."""
    return _PIECE.findall(text)


def tokenize(text: str) -> list[Token]:
    """Token ids and texts of ``text`` (ids: CRC-32 of the piece, 31 bits)."""
    return [Token(zlib.crc32(p.encode()) & 0x7FFFFFFF, p) for p in pieces(text)]


def count_prompt(conversation: Conversation) -> int:
    """Text tokens of a conversation: every message's text plus its role marker."""
    return sum(len(pieces(m.text)) + TOKENS_PER_MESSAGE for m in conversation.messages)

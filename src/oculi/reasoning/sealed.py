"""``reasoning.encrypted_content``: the reasoning a client carries to its next turn, signed by the server.

The hosted API hands back an opaque blob (Responses ``include:
["reasoning.encrypted_content"]``, xai-sdk ``use_encrypted_content``) that,
sent back in a later request's input, continues the reasoning without a
stored response. oculi's blob is the reasoning itself (base64 JSON) plus an
HMAC-SHA256 of it under the server's ``reasoning_secret``: not a secret
store (anyone holding it can read it), but nobody can make the server
believe in reasoning it did not write. A blob that does not verify is a 400.
Replicas that share blobs share the secret; without one each process draws
its own, so blobs live as long as the process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from oculi.errors import InvalidRequest

_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReasoningSeal:
    """Signs and opens reasoning blobs with one server secret."""

    def __init__(self, secret: str | None = None) -> None:
        self.key = (secret or secrets.token_hex(32)).encode()

    def seal(self, reasoning: str, model: str) -> str:
        """The blob of ``reasoning`` written by ``model``."""
        body = json.dumps({"v": _VERSION, "model": model, "reasoning": reasoning}, ensure_ascii=False).encode()
        return _b64(body) + "." + _b64(hmac.new(self.key, body, hashlib.sha256).digest())

    def open(self, blob: str, param: str) -> str:
        """The reasoning in ``blob``; a 400 naming ``param`` when it was not signed here or was altered."""
        try:
            head, _, tag = blob.partition(".")
            body = _unb64(head)
            good = hmac.compare_digest(_unb64(tag), hmac.new(self.key, body, hashlib.sha256).digest())
            data = json.loads(body) if good else None
        except (ValueError, binascii.Error):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("reasoning"), str):
            raise InvalidRequest(
                "The encrypted reasoning was altered or was not issued by this server; send it back as it was "
                "returned, or leave it out.",
                param=param,
                code="invalid_encrypted_content",
            )
        return str(data["reasoning"])

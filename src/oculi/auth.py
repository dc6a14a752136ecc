"""API keys: who is calling, and which stored responses are theirs.

Shared by HTTP and gRPC. The owner of a stored response is a hash of the
key, so the store never holds a key. With no keys configured every caller is
the anonymous owner ``""`` (and the server binds to localhost only).
"""

from __future__ import annotations

import hashlib
import hmac

from oculi.errors import Unauthenticated


def owner_of(key: str) -> str:
    """The store owner id for an API key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Authenticator:
    """Checks ``Authorization: Bearer <key>`` values against the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def key_from_header(self, authorization: str | None) -> str | None:
        """The key in an ``Authorization`` header value (``Bearer <key>``), if any."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return value.strip()

    def owner(self, authorization: str | None) -> str:
        """The caller's owner id, or ``Unauthenticated`` (401) for a missing/wrong key."""
        if not self.enabled:
            return ""
        key = self.key_from_header(authorization)
        if key is None:
            raise Unauthenticated(
                "No API key provided. Send it as 'Authorization: Bearer <key>' (the client's api_key setting)."
            )
        # Compare against every key in constant time so timing reveals nothing.
        if not any(hmac.compare_digest(key.encode(), k) for k in self._keys):
            raise Unauthenticated(
                "Incorrect API key provided. Use one of the keys this oculi server is configured with."
            )
        return owner_of(key)

    @staticmethod
    def redact(key: str) -> str:
        """A key as shown to its owner (``GET /v1/api-key``): first and last characters only."""
        return key[:3] + "…" + key[-4:] if len(key) > 10 else "…"

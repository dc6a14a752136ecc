"""``xai_api.Auth``: ``get_api_key_info``, what the caller's key is (redacted) and may do."""

from __future__ import annotations

from google.protobuf import empty_pb2

from oculi.auth import Authenticator
from oculi.grpc.call import Call, Servicer, unary
from oculi.grpc.proto import auth_pb2, auth_pb2_grpc

# oculi has no per-key permissions: every accepted key may use every endpoint and model.
ACLS = ["api-key:endpoint:*", "api-key:model:*"]


class AuthService(Servicer, auth_pb2_grpc.AuthServicer):
    """The ``Auth`` service (see module docstring)."""

    @unary("Auth/get_api_key_info")
    async def get_api_key_info(self, request: empty_pb2.Empty, call: Call) -> auth_pb2.ApiKey:
        # The owner id is a hash of the key: a stable id that reveals nothing.
        return auth_pb2.ApiKey(
            redacted_api_key=Authenticator.redact(call.api_key) if call.api_key else "",
            api_key_id=call.owner,
            user_id=call.owner,
            team_id=call.owner,
            name="oculi" if self.runtime.auth.enabled else "oculi (no API keys configured)",
            acls=ACLS,
            api_key_blocked=False,
            team_blocked=False,
            disabled=False,
        )

"""The gRPC surface (proto package ``xai_api``) that the official ``xai-sdk`` Python client speaks.

Which service definitions, and why: the message and service classes are the
ones generated into the ``xai-sdk`` wheel, imported through ``xai_sdk.proto``
(``proto.py`` here is the one place that imports them). That package picks
the generated code matching the installed protobuf runtime (``v6`` for
protobuf 6 and 7, ``v5`` for protobuf 5), exactly as the client does, so the
server and the pinned client share byte-for-byte the same descriptors: no
second copy of the ``.proto`` files to drift from what the client sends.

Layout (one translation each way, errors mapped in one place):

- ``server.py`` — ``start_grpc_server(runtime, host, port)``: options (20 MiB
  messages, keepalive), servicers, bind, start.
- ``call.py`` — the per-RPC wrapper every servicer method goes through:
  request id, API key → owner, metrics, and the ONE mapping of
  ``OculiError.grpc_status`` to ``grpc.StatusCode`` (anything else: INTERNAL
  with only the request id).
- ``mapper.py`` — proto ↔ domain (requests in, completions / chunks / models out).
- ``chat.py``, ``models.py``, ``tokenize.py``, ``auth.py``, ``batch.py`` — thin servicers.

Connecting: ``xai_sdk.Client(api_key=..., api_host="localhost:PORT")`` works
unchanged: for an ``api_host`` starting with ``localhost:`` the SDK uses
``grpc.local_channel_credentials()`` (plaintext HTTP/2 over loopback, the API
key still sent as ``authorization: Bearer`` metadata), which this plaintext
server accepts. Any other host (``127.0.0.1:PORT``, a LAN name) makes the SDK
use TLS; pass ``use_insecure_channel=True`` to the ``Client`` for those, or put
a TLS-terminating proxy in front.
"""

"""The error tree, and its one mapping to HTTP and one to gRPC.

Every error a caller can cause is an ``OculiError`` subclass carrying an HTTP
status, a short machine ``code``, a gRPC status name and, where it applies, the
offending parameter. Nothing else is turned into a client error: any other
exception is a bug and becomes a 500 (gRPC ``INTERNAL``) carrying only the
request id, never the exception text.

    OculiError (500, internal_error)
    ├── InvalidRequest (400, invalid_request)          INVALID_ARGUMENT
    │   ├── ImageError (400, invalid_image)            ... names the image index
    │   │   ├── UnsupportedImageType (unsupported_image_type)
    │   │   ├── ImageTooLarge (image_too_large)
    │   │   ├── ImageFetchError (image_fetch_failed)
    │   │   ├── ForbiddenImageURL (image_url_forbidden)
    │   │   └── ImageDecodeError (image_decode_failed)
    │   └── ContextLengthExceeded (context_length_exceeded)
    ├── SchemaError (422, invalid_schema)              INVALID_ARGUMENT
    ├── Unauthenticated (401, unauthenticated)         UNAUTHENTICATED
    ├── NotFound (404, not_found)                      NOT_FOUND
    │   ├── ModelNotFound (model_not_found)
    │   ├── ModelUnavailable (model_unavailable)    ... a model to serve cannot be found/loaded
    │   ├── ResponseNotFound (response_not_found)
    │   └── FileNotFound (file_not_found)           ... names the file id
    ├── RequestTimeout (408, request_timeout)         DEADLINE_EXCEEDED
    ├── PayloadTooLarge (413, payload_too_large)       RESOURCE_EXHAUSTED
    ├── Overloaded (429, overloaded)                   RESOURCE_EXHAUSTED
    ├── QuotaExceeded (429, quota_exceeded)            RESOURCE_EXHAUSTED (x-should-retry: false)
    └── Unavailable (503, unavailable)                 UNAVAILABLE (transient only)
        └── StoreUnavailable (store_unavailable)       ... the database is down; Retry-After
"""

from __future__ import annotations

import re
from typing import Any

_REPR = re.compile(r"\s*<[^<>]*\bat 0x[0-9a-fA-F]+>")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[\w.+-]+){2,}/?")


class OculiError(Exception):
    """Base of every error oculi reports to a caller on purpose."""

    status: int = 500
    code: str = "internal_error"
    grpc_status: str = "INTERNAL"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def http_body(self) -> dict[str, Any]:
        """The xAI error shape: ``{"code", "error"}`` (plus ``param`` when known)."""
        body: dict[str, Any] = {"code": self.code, "error": self.message}
        if self.param is not None:
            body["param"] = self.param
        return body

    def http_headers(self) -> dict[str, str]:
        """Extra HTTP headers this error carries (e.g. ``retry-after``)."""
        return {}


class InvalidRequest(OculiError):
    """The request is well-formed JSON/protobuf but asks for something invalid."""

    status = 400
    code = "invalid_request"
    grpc_status = "INVALID_ARGUMENT"


class ImageError(InvalidRequest):
    """An image in the request cannot be used; the message names its index."""

    code = "invalid_image"

    def __init__(self, message: str, *, index: int | None = None, param: str | None = None) -> None:
        self.index = index
        prefix = f"Image {index}: " if index is not None else ""
        super().__init__(prefix + message, param=param)


class UnsupportedImageType(ImageError):
    """The bytes are not JPEG or PNG (decided by signature, not by label)."""

    code = "unsupported_image_type"


class ImageTooLarge(ImageError):
    """Over the per-image byte limit or the decompression-bomb pixel limit."""

    code = "image_too_large"


class ImageFetchError(ImageError):
    """An image URL could not be fetched (remote error, timeout, bad body)."""

    code = "image_fetch_failed"


class ForbiddenImageURL(ImageError):
    """An image URL is refused by policy (scheme, private address, ...)."""

    code = "image_url_forbidden"


class ImageDecodeError(ImageError):
    """The bytes claim to be JPEG/PNG but are truncated or corrupt."""

    code = "image_decode_failed"


class ContextLengthExceeded(InvalidRequest):
    """The prompt (text + image tokens) does not fit the model's context."""

    code = "context_length_exceeded"

    def __init__(self, prompt_tokens: int, context_length: int, *, max_tokens: int | None = None) -> None:
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        extra = f" plus max_tokens {max_tokens}" if max_tokens else ""
        super().__init__(
            f"This request needs {prompt_tokens} prompt tokens{extra}, but the model's "
            f"context length is {context_length} tokens. Send fewer or smaller images "
            f"(detail 'low' costs 256 tokens an image), shorten the text, or lower max_tokens.",
            param="messages",
        )


class SchemaError(OculiError):
    """The body does not match the wire schema (wrong type, missing field)."""

    status = 422
    code = "invalid_schema"
    grpc_status = "INVALID_ARGUMENT"


class Unauthenticated(OculiError):
    """Missing or wrong API key."""

    status = 401
    code = "unauthenticated"
    grpc_status = "UNAUTHENTICATED"


class NotFound(OculiError):
    """Something named in the request does not exist (for this API key)."""

    status = 404
    code = "not_found"
    grpc_status = "NOT_FOUND"


class ModelNotFound(NotFound):
    """The requested model is neither served nor an alias."""

    code = "model_not_found"

    def __init__(self, model: str, available: list[str]) -> None:
        super().__init__(
            f"The model '{model}' does not exist or is not served here. "
            f"Served models: {', '.join(available) or '(none)'}.",
            param="model",
        )


class ModelUnavailable(NotFound):
    """A model named for serving is not on disk, not in the hub cache, and cannot be downloaded.

    Raised while loading (startup or CLI), never for a request; the message
    says what is missing and how to provide it.
    """

    code = "model_unavailable"


class ResponseNotFound(NotFound):
    """A stored response / deferred request id is unknown for this key."""

    code = "response_not_found"


class FileNotFound(NotFound):
    """A file id is unknown for this key (never uploaded, another key's, deleted or expired)."""

    code = "file_not_found"

    def __init__(self, file_id: str, *, param: str | None = "file_id") -> None:
        self.file_id = file_id
        super().__init__(
            f"No file with id '{file_id}' for this API key (it may have been deleted, have expired, "
            "or belong to another key). Upload it again (POST /v1/files, or files.upload in xai-sdk).",
            param=param,
        )


class PayloadTooLarge(OculiError):
    """The request body is over the server's limit."""

    status = 413
    code = "payload_too_large"
    grpc_status = "RESOURCE_EXHAUSTED"


class RequestTimeout(OculiError):
    """The client did not send its request (headers or body) in time."""

    status = 408
    code = "request_timeout"
    grpc_status = "DEADLINE_EXCEEDED"

    def http_headers(self) -> dict[str, str]:
        return {"connection": "close"}


class Overloaded(OculiError):
    """The server is at capacity; retry after ``retry_after`` seconds."""

    status = 429
    code = "overloaded"
    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def http_headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class QuotaExceeded(OculiError):
    """An API key's stored files would exceed its quota (bytes or count); retrying will not help.

    429 like the hosted APIs' quota errors, with ``x-should-retry: false`` so
    the openai clients do not retry it.
    """

    status = 429
    code = "quota_exceeded"
    grpc_status = "RESOURCE_EXHAUSTED"

    def http_headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class Unavailable(OculiError):
    """A transient failure: the same request may succeed if retried."""

    status = 503
    code = "unavailable"
    grpc_status = "UNAVAILABLE"


class StoreUnavailable(Unavailable):
    """The database behind the store does not answer (down, restarting, unreachable); retry shortly.

    Carries ``Retry-After`` so clients back off instead of hammering a
    database that is coming back; the message says the store is unavailable,
    so an operator reading a client's log knows where to look.
    """

    code = "store_unavailable"
    retry_after = 2

    def http_headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class ConfigurationError(OculiError):
    """The server's own configuration is wrong (e.g. an unknown ``--vllm-arg``): raised at start, never per request."""

    code = "configuration_error"


def internal_error_body(request_id: str) -> dict[str, Any]:
    """The body of a 500: no internals, only what lets an operator find the log line."""
    return {
        "code": "internal_error",
        "error": f"Internal server error. Quote request id {request_id} when reporting it.",
    }


def public_reason(exc: BaseException, limit: int = 160) -> str:
    """A library's exception text fit to show a caller: object reprs and file paths removed, length capped.

    Pillow, httpx and the like put useful words in their messages ("broken PNG
    file", "CRC error") next to internals (``<_io.BytesIO object at 0x7f..>``,
    site-packages paths); only the words pass.
    """
    text = _PATH.sub("", _REPR.sub("", str(exc))).strip().rstrip(":").strip()
    if not text:
        text = "unreadable data"
    return text if len(text) <= limit else text[: limit - 1] + "…"

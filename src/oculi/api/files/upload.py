"""Reading a ``multipart/form-data`` upload as it streams in, never whole.

Why not FastAPI's ``UploadFile`` / Starlette's ``request.form()``: they read
the entire body (spooling files to disk) before the endpoint runs, so an
over-size file is only noticed after all of it arrived, and the file is
copied once more into the store. Here python-multipart's push parser is fed
``request.stream()`` chunk by chunk; the ``file`` part's bytes go straight
into ``FileService.spool`` (which stops at the size limit or the quota), the
small text fields (``purpose``, ``expires_after``) are kept, whatever their
order relative to the file (curl users write ``-F file=@x -F purpose=...``).

After a refusal the rest of the body is read and dropped (up to a bound), so
the client, still sending, gets to read the 4xx instead of a reset socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from oculi.api.disconnect import ClientGone
from oculi.errors import InvalidRequest, OculiError, PayloadTooLarge
from oculi.store.base import Spooled
from oculi.store.files import describe_size

MULTIPART_SLACK = 1024 * 1024  # boundaries, part headers and small fields around an uploaded file
MAX_FIELD_BYTES = 64 * 1024  # a text field (purpose, expires_after) is tiny
MAX_FIELDS = 16
DRAIN_BYTES = 256 * 1024 * 1024  # read at most this much of a refused body before answering

_Event = tuple[str, Any]  # ("part", (name, filename)) | ("data", bytes) | ("end", None)


@dataclass
class UploadForm:
    """What the form carried: the spooled file (if any), its filename and the text fields."""

    file: Spooled | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def _boundary(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Upload files as multipart/form-data with a 'file' part (and optionally 'purpose'), "
            "e.g. curl -F file=@photo.png -F purpose=vision.",
            param="file",
        )
    return boundary


async def read_upload(
    request: Request, spool: Callable[[AsyncIterator[bytes]], Awaitable[Spooled]], *, max_file_bytes: int
) -> UploadForm:
    """Parse the request's multipart body; the ``file`` part is handed to ``spool`` as it arrives.

    A ``Content-Length`` that cannot fit a file of ``max_file_bytes`` is a
    413 before anything is read. Raises ``InvalidRequest`` for a malformed
    body or a second file; a missing one is left to the caller
    (``UploadForm.file`` is None). Errors from ``spool`` (413 / 429)
    propagate after the body has been drained.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + MULTIPART_SLACK:
        raise PayloadTooLarge(
            f"The upload is {describe_size(int(declared))}, more than this server's limit of "
            f"{describe_size(max_file_bytes)} per file (max_file_bytes). Upload a smaller file."
        )
    events = _events(request, _boundary(request.headers.get("content-type")))
    form = UploadForm()
    try:
        async for kind, value in events:
            if kind != "part":
                continue
            name, filename = value
            if filename is not None:
                if name != "file" or form.file is not None:
                    raise InvalidRequest("Send exactly one file, in the form part named 'file'.", param=name or "file")
                form.filename = filename
                form.file = await spool(_part_bytes(events))
            else:
                if len(form.fields) >= MAX_FIELDS:
                    raise InvalidRequest(f"The upload form has more than {MAX_FIELDS} fields.", param=name)
                form.fields[name] = await _field_text(events, name)
    except OculiError:
        if form.file is not None:
            form.file.file.close()
        await _drain(events)
        raise
    except BaseException:
        if form.file is not None:
            form.file.file.close()
        raise
    return form


async def _events(request: Request, boundary: bytes) -> AsyncIterator[_Event]:
    """The parser's callbacks as a stream of events, fed by ``request.stream()``."""
    pending: list[_Event] = []
    headers: dict[bytes, bytes] = {}
    header = [bytearray(), bytearray()]
    ended: list[bool] = []

    def on_header_end() -> None:
        headers[bytes(header[0]).lower()] = bytes(header[1])
        header[0].clear()
        header[1].clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(headers.get(b"content-disposition"))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        pending.append(("part", (name, filename.decode("utf-8", "replace") if filename is not None else None)))
        headers.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": lambda data, start, end: header[0].extend(data[start:end]),
            "on_header_value": lambda data, start, end: header[1].extend(data[start:end]),
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": lambda data, start, end: pending.append(("data", bytes(data[start:end]))),
            "on_part_end": lambda: pending.append(("end", None)),
            "on_end": lambda: ended.append(True),
        },
    )
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise InvalidRequest(f"The multipart body is malformed: {exc}.", param="file") from exc
            for event in pending:
                yield event
            pending.clear()
    except ClientDisconnect as exc:
        # The client left, or the body limit cut the body off: never store what arrived.
        raise ClientGone("upload") from exc
    parser.finalize()
    for event in pending:
        yield event
    if not ended:
        raise InvalidRequest("The multipart body ends before its closing boundary; send the whole form.", param="file")


async def _part_bytes(events: AsyncIterator[_Event]) -> AsyncIterator[bytes]:
    """The current part's data, up to its end (a body that stops before it is malformed, not short)."""
    async for kind, value in events:
        if kind == "end":
            return
        if kind == "data":
            yield value
    raise InvalidRequest("The multipart body ends in the middle of a part; send the whole form.", param="file")


async def _field_text(events: AsyncIterator[_Event], name: str) -> str:
    size, pieces = 0, []
    async for piece in _part_bytes(events):
        size += len(piece)
        if size > MAX_FIELD_BYTES:
            raise InvalidRequest(f"The form field {name!r} is longer than {MAX_FIELD_BYTES} bytes.", param=name)
        pieces.append(piece)
    return b"".join(pieces).decode("utf-8", "replace").strip()


async def _drain(events: AsyncIterator[_Event]) -> None:
    """Read and drop what is left of a refused body (bounded), so the client can read the error."""
    dropped = 0
    try:
        async for kind, value in events:
            if kind == "data":
                dropped += len(value)
                if dropped > DRAIN_BYTES:
                    return
    except (OculiError, ClientGone):
        return

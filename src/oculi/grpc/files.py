"""``xai_api.Files``: upload (client-streamed chunks), list, retrieve, content (server-streamed), delete.

Thin like the other servicers: ``runtime.files`` (``FileService``) applies
the same rules as ``/v1/files`` — size limit and quota enforced while the
chunks arrive, another key's file is ``NOT_FOUND`` like an unknown one.
xai-sdk sends ``UploadFileChunk{init{name, expires_after}}`` first, then
3 MiB ``data`` chunks; ``purpose`` does not exist here (files uploaded over
gRPC have the default ``assistants``). Public URLs are not offered: a
self-hosted server hands a file only to its key.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from google.protobuf.timestamp_pb2 import Timestamp

from oculi.errors import InvalidRequest
from oculi.grpc.call import Call, Servicer, streaming, unary
from oculi.grpc.proto import files_pb2, files_pb2_grpc
from oculi.store.base import FileSort, StoredFile

DEFAULT_LIST_LIMIT = 100  # the SDK documents "server default of 100"
_SORTS: dict[int, FileSort] = {
    files_pb2.FILES_SORT_BY_CREATED_AT: "created_at",
    files_pb2.FILES_SORT_BY_FILENAME: "filename",
    files_pb2.FILES_SORT_BY_SIZE: "bytes",
}


def to_file(file: StoredFile) -> files_pb2.File:
    """Domain file → ``xai_api.File`` (``expires_at`` unset when the file does not expire)."""
    message = files_pb2.File(
        id=file.id, filename=file.filename, size=file.bytes, created_at=Timestamp(seconds=file.created_at)
    )
    if file.expires_at is not None:
        message.expires_at.CopyFrom(Timestamp(seconds=file.expires_at))
    return message


class FilesService(Servicer, files_pb2_grpc.FilesServicer):
    """The ``Files`` service (see module docstring)."""

    @unary("Files/UploadFile")
    async def UploadFile(self, request: AsyncIterator[files_pb2.UploadFileChunk], call: Call) -> files_pb2.File:
        first = await anext(aiter(request), None)
        if first is None or first.WhichOneof("chunk") != "init":
            raise InvalidRequest(
                "The first UploadFileChunk must be init{name, expires_after}; data chunks follow it.", param="init"
            )
        name, expires_after = first.init.name, first.init.expires_after or None
        stored = await self.runtime.files.upload(call.owner, name, None, _data(request), expires_after=expires_after)
        return to_file(stored)

    @unary("Files/ListFiles")
    async def ListFiles(self, request: files_pb2.ListFilesRequest, call: Call) -> files_pb2.ListFilesResponse:
        if request.filter:
            raise InvalidRequest(
                "filter expressions are not supported by oculi; list without filter and page with pagination_token.",
                param="filter",
            )
        sort = _SORTS.get(request.sort_by)
        if sort is None:
            raise InvalidRequest(f"sort_by {request.sort_by} is not a FilesSortBy value.", param="sort_by")
        page = await self.runtime.files.list(
            call.owner,
            limit=request.limit or DEFAULT_LIST_LIMIT,
            after=request.pagination_token or None,
            order="desc" if request.order == files_pb2.DESCENDING else "asc",
            sort=sort,
        )
        token = page.files[-1].id if page.has_more else ""
        return files_pb2.ListFilesResponse(data=[to_file(f) for f in page.files], pagination_token=token)

    @unary("Files/RetrieveFile")
    async def RetrieveFile(self, request: files_pb2.RetrieveFileRequest, call: Call) -> files_pb2.File:
        return to_file(await self.runtime.files.get(call.owner, request.file_id))

    @unary("Files/DeleteFile")
    async def DeleteFile(self, request: files_pb2.DeleteFileRequest, call: Call) -> files_pb2.DeleteFileResponse:
        await self.runtime.files.delete(call.owner, request.file_id)
        return files_pb2.DeleteFileResponse(id=request.file_id, deleted=True)

    @streaming("Files/RetrieveFileContent")
    async def RetrieveFileContent(
        self, request: files_pb2.RetrieveFileContentRequest, call: Call
    ) -> AsyncGenerator[files_pb2.FileContentChunk, None]:
        if request.format == files_pb2.DOWNLOAD_FORMAT_TEXT:
            raise InvalidRequest(
                "format DOWNLOAD_FORMAT_TEXT (text extraction) is not supported; download the original.",
                param="format",
            )
        _, chunks = await self.runtime.files.content(call.owner, request.file_id)
        async for chunk in chunks:
            yield files_pb2.FileContentChunk(data=chunk)

    @unary("Files/CreatePublicUrl")
    async def CreatePublicUrl(
        self, request: files_pb2.CreatePublicUrlRequest, call: Call
    ) -> files_pb2.CreatePublicUrlResponse:
        raise InvalidRequest(
            "oculi does not create public URLs: a file is only served to the API key that uploaded it "
            "(RetrieveFileContent).",
            param="file_id",
        )

    @unary("Files/RevokePublicUrl")
    async def RevokePublicUrl(
        self, request: files_pb2.RevokePublicUrlRequest, call: Call
    ) -> files_pb2.RevokePublicUrlResponse:
        raise InvalidRequest("oculi does not create public URLs, so there is none to revoke.", param="file_id")


async def _data(chunks: AsyncIterator[files_pb2.UploadFileChunk]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if chunk.WhichOneof("chunk") != "data":
            raise InvalidRequest("Only the first UploadFileChunk may be init; the rest must be data.", param="init")
        yield chunk.data

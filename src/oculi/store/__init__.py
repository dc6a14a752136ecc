"""Durable storage of responses, deferred requests and their images (SPEC §4).

``Store`` is the interface the service is given; ``SqlStore`` implements it on
SQLite (default) and PostgreSQL; ``open_store`` builds and opens one.
"""

from oculi.store.base import FileLimits, FilePage, ResponseStatus, Store, StoredFile, StoredResponse
from oculi.store.sql import SqlStore, open_store

__all__ = [
    "FileLimits",
    "FilePage",
    "ResponseStatus",
    "SqlStore",
    "Store",
    "StoredFile",
    "StoredResponse",
    "open_store",
]

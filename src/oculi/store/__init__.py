"""Durable storage of responses, files, deferred requests and batches (SPEC §4).

``Store`` is composed of its parts on one database handle (SQLite by
default, or PostgreSQL): ``responses`` (``ResponseStore``), ``files``
(``FileStore``), ``jobs`` (``JobQueue``) and ``batches`` (``BatchStore``);
``open_store`` builds and opens one. Each consumer is handed the part it uses.
"""

from oculi.store.base import FileLimits, FilePage, ResponseStatus, StoredFile, StoredResponse
from oculi.store.batches import BatchStore
from oculi.store.core import Store, open_store
from oculi.store.database import Database
from oculi.store.files import FileStore
from oculi.store.jobs import JobQueue
from oculi.store.responses import ResponseStore

__all__ = [
    "BatchStore",
    "Database",
    "FileLimits",
    "FilePage",
    "FileStore",
    "JobQueue",
    "ResponseStatus",
    "ResponseStore",
    "Store",
    "StoredFile",
    "StoredResponse",
    "open_store",
]

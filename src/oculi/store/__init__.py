"""Durable storage of responses, deferred requests and their images (SPEC §4).

``Store`` is the interface the service is given; ``SqlStore`` implements it on
SQLite (default) and PostgreSQL; ``open_store`` builds and opens one.
"""

from oculi.store.base import ResponseStatus, Store, StoredResponse
from oculi.store.sql import SqlStore, open_store

__all__ = ["ResponseStatus", "SqlStore", "Store", "StoredResponse", "open_store"]

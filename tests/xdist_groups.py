"""The suite on two cores: pytest-xdist workers, each test sent to the worker that has its server.

Every worker has its own server factory (``tests/servers.py``), so tests that share a server must
run in the same worker, or each worker starts its own copy. pytest-xdist's ``--dist loadgroup``
would do this with ``xdist_group`` marks, but pytest-xdist 3.8 records a test's group by
rewriting ``item._nodeid``, which pytest 9 no longer reads (a node's id is ``item._id``): the
groups are silently lost. So the grouping is done here, by pytest-xdist's own scheduler for
``loadscope`` with the scope of a test looked up in a table the workers write while collecting:

- every vLLM test in one group (one vLLM engine at a time holds gigabytes);
- then the suite's named shared servers (``SHARED_SERVERS``): a test on one of them goes where it runs;
- every other test with its module (module fixtures — a server, an engine loaded in-process, a
  container image — are then made once).

The biggest groups are handed out first (``loadscope``'s ordering), so both workers stay busy.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

#: The suite's named shared servers, most widely shared first: a test on one of them goes where it runs.
SHARED_SERVERS = ("internvl_server", "thinking_server", "scripted_server", "lite_server")
#: ``workerinput`` key: where the workers write the table of groups.
TABLE = "oculi_groups"


def group_of(item: pytest.Item) -> str:
    """The group of tests a test must share a worker with."""
    names = getattr(item, "fixturenames", ())
    if "vllm" in item.nodeid.lower() and ("servers" in names or "/vllm/" in item.nodeid):
        return "vllm"
    shared = next((name for name in SHARED_SERVERS if name in names), None)
    return shared if shared is not None else item.nodeid.split("::")[0]


def write_table(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker: write ``{nodeid: group}`` where the controller's scheduler reads it."""
    path = getattr(config, "workerinput", {}).get(TABLE)
    if path is None:
        return
    table = {item.nodeid: group_of(item) for item in items}
    tmp = f"{path}.{os.getpid()}"
    Path(tmp).write_text(json.dumps(table))
    os.replace(tmp, path)  # both workers write the same table; whichever lands last is as good


def table_path(config: pytest.Config) -> str:
    """In the controller: the file the workers write the table to (one per run)."""
    path = getattr(config, "_oculi_group_table", None)
    if path is None:
        path = os.path.join(tempfile.mkdtemp(prefix="oculi-xdist-"), "groups.json")
        config._oculi_group_table = path  # type: ignore[attr-defined]
    return path


def make_scheduler(config: pytest.Config, log):  # -> LoadScopeScheduling
    """``loadscope`` whose scope of a test is its group from the table (its own id when it has none)."""
    from xdist.scheduler.loadscope import LoadScopeScheduling

    path = table_path(config)

    class ServerGroupScheduling(LoadScopeScheduling):
        _table: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._table is None:
                self._table = json.loads(Path(path).read_text()) if os.path.exists(path) else {}
            return self._table.get(nodeid, nodeid)

    return ServerGroupScheduling(config, log)

"""The suite on two cores: pytest-xdist workers, each test sent to the worker that has its server.

Every worker has its own server factory (``tests/servers.py``), so tests that share a server must
run in the same worker, or each worker starts its own copy. pytest-xdist's ``--dist loadgroup``
would do this with ``xdist_group`` marks, but pytest-xdist 3.8 records a test's group by
rewriting ``item._nodeid``, which pytest 9 no longer reads (a node's id is ``item._id``): the
groups are silently lost. So the grouping is done here, by pytest-xdist's own scheduler for
``loadscope`` with the scope of a test looked up in a table the workers write while collecting:

- the suite's named shared servers (``SHARED_SERVERS``): a test on one of them goes where it runs
  (also one that gets it through ``getfixturevalue``, or a module whose one server serves every
  family, marked ``on_server(name)``);
- every other test with its module (module fixtures — a server, an engine loaded in-process, a
  container image — are then made once), one group per value of a module- or session-scoped
  parametrized fixture (``tiny_family``: each family's in-process engines are a group of their
  own, so the families spread over both workers while each engine still loads once).

The costliest groups are handed out first (``order``: a rough cost, the seconds a group's server
starts and slow steps take, plus one a test), so neither worker is left alone with a long group at
the end.
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
    marker = item.get_closest_marker("on_server")  # a parameter that asks for a shared server by name
    if marker is not None:
        return str(marker.args[0])
    names = getattr(item, "fixturenames", ())
    shared = next((name for name in SHARED_SERVERS if name in names), None)
    if shared is not None:
        return shared
    return item.nodeid.split("::")[0] + "".join(f"[{value}]" for value in _wide_params(item))


def _wide_params(item: pytest.Item) -> list[str]:
    """The ids of the item's parameters that belong to module- or session-scoped fixtures."""
    callspec = getattr(item, "callspec", None)
    info = getattr(item, "_fixtureinfo", None)
    if callspec is None or info is None:
        return []
    wide = []
    for name, value in callspec.params.items():
        definitions = info.name2fixturedefs.get(name, ())
        if definitions and definitions[-1].scope in ("module", "package", "session"):
            wide.append(str(getattr(value, "name", value)))
    return wide


#: Rough seconds a group costs beyond its tests (a vLLM server start, an image build, a soak run).
SLOW_GROUPS = {"test_api_vllm.py": 200, "test_container.py": 200, "test_soak.py": 100, "vllm": 90}


def order(items: list[pytest.Item]) -> None:
    """Sort the items (in place, stably): costliest groups first; ``early`` / ``late`` tests first / last in theirs."""
    groups = {item.nodeid: group_of(item) for item in items}
    cost: dict[str, float] = {}
    for group in groups.values():
        if group not in cost:
            cost[group] = max((extra for key, extra in SLOW_GROUPS.items() if key in group), default=0)
        cost[group] += 1
    # Within its group a test marked ``early`` runs first and one marked ``late`` last (a wait the others fill).
    items.sort(key=lambda item: (-cost[groups[item.nodeid]], _place(item)))


def _place(item: pytest.Item) -> int:
    return -1 if item.get_closest_marker("early") else 1 if item.get_closest_marker("late") else 0


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

"""``Runtime.readiness``: ready once open, not ready from the moment a graceful stop begins."""

from __future__ import annotations

from pathlib import Path

from oculi.engines.registry import EngineRegistry
from oculi.runtime import Runtime
from oculi.settings import Settings
from oculi.testing.scripted import ScriptedEngine


async def test_ready_when_open_and_not_ready_once_draining(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'oculi.db'}", job_shutdown_grace_seconds=0)
    runtime = await Runtime.open(settings, registry=EngineRegistry([ScriptedEngine()], {}))
    try:
        assert await runtime.readiness() == {}
        runtime.begin_draining()
        assert set(await runtime.readiness()) == {"server"}
    finally:
        await runtime.close()

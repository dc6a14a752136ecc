"""The short soak: ``bench/soak.py --minutes 1`` (two replicas, a private PostgreSQL, one of each fault).

The same script as the hour-long soak, scaled down: capacity measured, twice
that offered over every surface for a minute, replica b killed with SIGKILL
at 15 s and PostgreSQL at 30 s (back after 7.5 s plus its crash recovery). Only what must
always hold is asserted, never a timing: no 5xx outside the database outage,
nothing acknowledged lost, every accepted job (deferred and batch requests)
done exactly once, no half-written file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oculi.testing.postgres import pg_bindir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_one_minute_soak_loses_nothing(tmp_path: Path) -> None:
    try:
        pg_bindir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    report_path = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "1", "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=840,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = run.stdout[-6000:] + run.stderr[-3000:]
    assert report_path.exists(), output
    report = json.loads(report_path.read_text())
    # The run really went through its faults and carried traffic on every surface.
    assert len(report["faults"]["replica"]) == 1 and len(report["faults"]["postgres"]) == 1, output
    assert all(sum(counts.values()) for counts in report["by_surface"].values()), report["by_surface"]
    assert report["five_xx_outside_outages"] == 0, output
    assert report["bad_during_outages"] == 0, output
    assert report["acknowledged"] > 0 and report["acknowledged_lost"] == 0, output
    jobs = report["jobs"]
    assert jobs["accepted"] > 0 and jobs["done_once"] == jobs["accepted"] and jobs["twice"] == 0, output
    assert report["files_half_written"] == 0, output
    assert run.returncode == 0, output

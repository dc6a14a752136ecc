"""The seed examples against the NEWEST releases of the official clients, beside the pinned ones.

Users install whatever the registry has today, not oculi's pins. This module
installs the newest ``openai`` and ``xai-sdk`` (plus ``httpx``, which the seed
imports) into a virtual environment of their own and the newest npm ``openai``,
``ai`` and ``@ai-sdk/xai`` into a folder of their own (``.cache/newest-clients``,
refreshed daily), then runs every seed example whose client is newer than the
pin, one at a time, and judges it exactly as ``test_seed_examples`` does.

A run that fails without the server seeing a single request (oculi's request
counter unchanged) is a *client-side break*: nothing oculi serves can fix it,
so it is reported as an expected failure naming the client, its version and
the error — visible in the summary, never hidden, never a pass. A failure
after requests reached the server fails the test. Where the registry cannot be
reached, the module is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conformance_harness import (
    PINNED,
    REPO_ROOT,
    Clients,
    ExampleRunner,
    OculiServer,
    client_packages,
    node_executable,
    node_missing_reason,
)
from conformance_images import Images
from seed_cases import CASES, Case, case_param, judge, run_options
from servers import KEY

ROOT = REPO_ROOT / ".cache" / "newest-clients"
PYTHON_PACKAGES = ("openai", "xai-sdk", "httpx")
NPM_PACKAGES = ("openai@latest", "ai@latest", "@ai-sdk/xai@latest", "zod@latest")
#: Rebuilt when older than this (the registry's newest release changes; CI starts from a clean clone).
MAX_AGE_S = 24 * 3600
INSTALL_TIMEOUT_S = 600
#: The line of a traceback that names the error (the first one: later ones may be from interpreter shutdown).
ERROR_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception)\b.*:")


def _install(root: Path) -> Clients:
    """The newest clients under ``root`` (installed or refreshed now when missing or stale)."""
    stamp = root / "installed"
    python = root / "venv" / "bin" / "python"
    fresh = stamp.is_file() and time.time() - stamp.stat().st_mtime < MAX_AGE_S
    if not fresh:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade"]
        done = subprocess.run([*pip, *PYTHON_PACKAGES], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            pytest.skip(f"the registry's newest Python clients could not be installed: {done.stderr[-800:]}")
        if node_executable() is not None and not node_missing_reason():
            (root / "node").mkdir(parents=True, exist_ok=True)
            npm = ["npm", "install", "--prefix", str(root / "node"), "--no-audit", "--no-fund", "--loglevel=error"]
            done = subprocess.run([*npm, *NPM_PACKAGES], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            if done.returncode != 0:
                pytest.skip(f"the registry's newest npm clients could not be installed: {done.stderr[-800:]}")
        stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return Clients("newest", str(python), root / "node" / "node_modules")


@pytest.fixture(scope="module")
def newest() -> Clients:
    if os.environ.get("OCULI_SKIP_NEWEST_CLIENTS"):
        pytest.skip("OCULI_SKIP_NEWEST_CLIENTS is set")
    ROOT.mkdir(parents=True, exist_ok=True)
    return _install(ROOT)


@pytest.fixture(scope="module")
def newest_examples(
    oculi_server: OculiServer, images: Images, newest: Clients, tmp_path_factory: pytest.TempPathFactory
) -> ExampleRunner:
    return ExampleRunner(
        oculi_server,
        tmp_path_factory.mktemp("newest-examples"),
        env={
            "OCULI_IMAGE_URL": images.nasa_url,
            "OCULI_IMAGE_PATH": str(images.photo.path),
            "OCULI_IMAGE_PATH_1": str(images.first.path),
            "OCULI_IMAGE_PATH_2": str(images.second.path),
        },
        clients=newest,
    )


def requests_served(server: OculiServer) -> float:
    """Requests the server has handled on every surface so far (``/metrics`` itself left out)."""
    text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", headers={"authorization": f"Bearer {KEY}"}).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("oculi_requests_total{") and 'endpoint="/metrics"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("case", [case_param(n, c) for n, c in CASES.items()])
def test_seed_example_on_the_newest_client(
    case: Case, newest: Clients, newest_examples: ExampleRunner, oculi_server: OculiServer, images: Images
) -> None:
    packages = client_packages(case.example)
    versions = {p: (PINNED.version(p), newest.version(p)) for p in packages}
    if not packages or all(pinned == latest for pinned, latest in versions.values()):
        said = ", ".join(f"{p} {v[0]}" for p, v in versions.items()) or "no client package"
        pytest.skip(f"the pinned client is the newest release ({said}): test_seed_examples runs it")
    before = requests_served(oculi_server)
    run = newest_examples.run(case.example, **run_options(case, images))
    if run.returncode != 0 and requests_served(oculi_server) == before:
        error = next((line for line in run.stderr.splitlines() if ERROR_LINE.match(line)), run.stderr[-300:])
        clients = ", ".join(f"{p} {latest} (pinned {pinned})" for p, (pinned, latest) in versions.items())
        pytest.xfail(f"client-side break in {clients}: the server got no request; {error}")
    judge(case, run, images, lambda: newest_examples.run(case.example, **run_options(case, images)))


def test_the_newest_clients_are_what_the_registry_serves(newest: Clients) -> None:
    """The environment really holds other releases than the pins where the registry has newer ones."""
    assert Path(newest.python).exists()
    assert newest.version("openai") is not None and newest.version("xai-sdk") is not None

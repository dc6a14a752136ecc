"""Podman helpers of the container test: build the image from a clean checkout, run it, stop it, inspect it.

How containers run on these machines (rootful Podman, runc, host networking,
lowered ulimits, a Debian base imported by ``scripts/container_base.sh``) is
in ``shared/notes/containers.md``; the same flags work with Docker minus
``--runtime``. The build gets this host's pip settings the way the Dockerfile
documents: ``PIP_CERT`` and the ``PIP_FIND_LINKS`` folders mounted read-only
and passed as build arguments, plus the llama.cpp wheel that
``scripts/build_llamacpp.sh`` left in its cache (so CI compiles it once, not twice).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PODMAN = ("podman", "--runtime", "runc")
#: runc may lower these limits, not raise them (shared/notes/containers.md).
LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
BASE_IMAGE = os.environ.get("OCULI_BASE_IMAGE", "localhost/debian:bookworm")
LLAMACPP_WHEELS = Path(os.environ.get("OCULI_WHEEL_CACHE", Path.home() / ".cache" / "oculi-wheels"))


def podman_missing_reason() -> str | None:
    """Why images cannot be built here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/install.sh installs it when run as root)"
    if os.geteuid() != 0:
        return "the container test runs rootful Podman (as CI does); run it as root"
    return None


def ensure_base_image() -> None:
    """Import the Debian base when absent (idempotent; ``scripts/install.sh`` normally did it)."""
    subprocess.run([str(REPO / "scripts" / "container_base.sh")], check=True, capture_output=True, timeout=900)


def clean_checkout(destination: Path) -> Path:
    """The committed tree at HEAD (``git archive``): no untracked files, no local build outputs."""
    archive = destination / "head.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), "HEAD"], check=True)
    source = destination / "src"
    with tarfile.open(archive) as tar:
        tar.extractall(source, filter="data")
    return source


def _pip_build_options() -> list[str]:
    """Mounts and build arguments that hand this host's pip settings to the build (ARG, never ENV)."""
    options: list[str] = []
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():
        options += ["-v", f"{cert}:/run/host-ca.crt:ro", "--build-arg", "PIP_CERT=/run/host-ca.crt"]
    folders = [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "").split() if Path(p).is_dir()]
    if any(LLAMACPP_WHEELS.glob("llama_cpp_python-*.whl")):
        folders.append(LLAMACPP_WHEELS)
    mounted = []
    for index, folder in enumerate(folders):
        options += ["-v", f"{folder}:/run/wheels-{index}:ro"]
        mounted.append(f"/run/wheels-{index}")
    if mounted:
        options += ["--build-arg", "PIP_FIND_LINKS=" + " ".join(mounted)]
    if any(f.glob("torch-*+cpu-*.whl") for f in folders):
        options += ["--build-arg", "TORCH_INDEX_URL="]  # the CPU torch is in a local folder
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        if os.environ.get(name):
            options += ["--build-arg", f"{name}={os.environ[name]}"]
    return options


def build_image(source: Path, tag: str, log_path: Path) -> float:
    """Build ``source``'s Dockerfile as ``tag``; seconds taken. The build log goes to ``log_path``."""
    argv = [
        *PODMAN,
        "build",
        "--format",
        "docker",  # keeps HEALTHCHECK (the OCI format has no such field)
        "--network=host",
        # One layer per stage instead of one per instruction: the same image (contents, history, user), but
        # a cold build spends ~25 % less time committing intermediate layers nobody reuses (measured 124 s →
        # 99 s on 2 cores). A developer's `docker build` keeps its per-instruction cache.
        "--layers=false",
        *LIMITS,
        "--build-arg",
        f"BASE={BASE_IMAGE}",
        *_pip_build_options(),
        "-t",
        tag,
        str(source),
    ]
    started = time.monotonic()
    with log_path.open("w") as log:
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    if done.returncode != 0:
        raise AssertionError(f"image build failed ({done.returncode}):\n{log_path.read_text()[-6000:]}")
    return time.monotonic() - started


def inspect_image(tag: str) -> dict[str, Any]:
    """``podman image inspect`` of ``tag``."""
    out = subprocess.run([*PODMAN, "image", "inspect", tag], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def image_history(tag: str) -> str:
    """Every layer's command, untruncated (what a registry user can read)."""
    return subprocess.run(
        [*PODMAN, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run_container(tag: str, name: str, env: dict[str, str]) -> None:
    """Start ``tag`` detached as ``name`` with host networking and ``env``."""
    flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
    subprocess.run(
        [*PODMAN, "run", "-d", "--name", name, "--network=host", *LIMITS, *flags, tag],
        check=True,
        capture_output=True,
    )


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``podman --runtime runc ARGS``; raise with its output on failure."""
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done


def logs(name: str) -> str:
    """The container's output so far (for failure messages)."""
    done = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True)
    return (done.stdout + done.stderr)[-6000:]

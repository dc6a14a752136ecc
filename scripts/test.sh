#!/usr/bin/env bash
# The one test command: the tests' own set-up (scripts/test-setup.sh: Chromium, Podman and the
# container base image, installed when run as root), lint (ruff), type-check (mypy), then the
# whole suite (pytest), printing the slowest tests so they stay visible.
# PostgreSQL tests use OCULI_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test);
# unset and unreachable, they are skipped with the reason printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
scripts/test-setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest --durations=25 "$@"

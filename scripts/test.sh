#!/usr/bin/env bash
# The one test command: lint (ruff), type-check (mypy), then the whole suite (pytest).
# PostgreSQL tests use OCULI_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test);
# unset and unreachable, they are skipped with the reason printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"

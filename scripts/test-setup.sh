#!/usr/bin/env bash
# What only the test suite needs, set up by the test command (scripts/test.sh), not by the install:
# a user installing oculi on a host gets no container tooling or browser they did not ask for.
#   - Debian's chromium: the playground's browser tests (Playwright drives the system browser;
#     Playwright's own browser download cannot work without internet);
#   - podman, runc, debootstrap and a locally made Debian base image: the container test
#     (tests/conformance/test_container.py builds the Dockerfile; no image registry is reachable).
# As root with apt-get it installs what is missing (idempotent: a second run does nothing). Otherwise
# it says what is missing and which tests that leaves out; run it once as root (sudo) to set them up.
#   OCULI_SKIP_TEST_SETUP=1   do nothing (e.g. a machine set up by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${OCULI_SKIP_TEST_SETUP:-0}" = "1" ] && exit 0

missing=()
command -v chromium >/dev/null || missing+=(chromium)
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> test set-up: installing ${missing[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  echo "==> test set-up: container base image"
  scripts/container_base.sh
elif [ ${#missing[@]} -gt 0 ]; then
  echo "==> test set-up: not root, so ${missing[*]} cannot be installed here." >&2
  echo "    Without chromium the playground tests fail; without podman/runc/debootstrap the container" >&2
  echo "    test is skipped. Run 'sudo scripts/test-setup.sh' once to set them up." >&2
fi

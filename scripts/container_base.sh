#!/usr/bin/env bash
# Make the Debian bookworm base image locally when no image registry is reachable.
#
# The Dockerfile's default base, debian:bookworm-slim, is pulled from a registry; on
# machines that reach only package mirrors (CI here) this builds an equivalent minimal
# root filesystem with debootstrap from the mirror apt already uses and imports it into
# Podman as localhost/debian:bookworm (build with --build-arg BASE=localhost/debian:bookworm).
# Idempotent: does nothing when the image exists. Needs root, podman and debootstrap.
#   OCULI_BASE_IMAGE    image name to create (default localhost/debian:bookworm)
#   OCULI_DEBIAN_MIRROR mirror to bootstrap from (default: the first one in apt's sources)
set -euo pipefail

IMAGE="${OCULI_BASE_IMAGE:-localhost/debian:bookworm}"
PODMAN=(podman --runtime runc)
if "${PODMAN[@]}" image exists "$IMAGE"; then
  echo "[container_base] $IMAGE already present"
  exit 0
fi

MIRROR="${OCULI_DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ]; then
  # deb822 "URIs: ..." or one-line "deb URL bookworm main": the first Debian mirror apt uses.
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '^(URIs:|deb )' | grep -v -E 'security|cloud|nodesource' | head -n1 |
    sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

ROOTFS=$(mktemp -d /var/tmp/oculi-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "[container_base] debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
# Like the official slim image: no apt caches, no docs in later installs.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | "${PODMAN[@]}" import --quiet - "$IMAGE" >/dev/null
echo "[container_base] imported $IMAGE"

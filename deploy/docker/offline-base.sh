#!/bin/sh
# Builds the platform's base image from Debian packages, for hosts that reach a Debian
# mirror and a Python package index but no image registry (air-gapped CI, a proxy that
# blocks registries). Every image of the platform builds FROM it when BASE_IMAGE names it:
#
#   sh deploy/docker/offline-base.sh            # makes data-platform/base:bookworm
#   BASE_IMAGE=data-platform/base:bookworm make images
#
# The image is Debian bookworm's minimal system with Python 3.11 (python3, python3-venv)
# and Debian's CA certificates: the same interpreter contract as the official
# python:3.11 images (`python3` on PATH, `python3 -m venv` works). Root only (debootstrap).
#
# Variables: OFFLINE_BASE_TAG (default data-platform/base:bookworm), DEBIAN_SUITE
# (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian). An existing image of that tag
# is kept unless REBUILD=1: the base changes with Debian's point releases only.
set -eu

tag=${OFFLINE_BASE_TAG:-data-platform/base:bookworm}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ "${REBUILD:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "offline-base: $tag exists (REBUILD=1 to make it again)"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "offline-base: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/platform-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT INT TERM

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror"
# Package lists and caches are not part of an image; apt-get update refills them.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag"
echo "offline-base: built $tag"

#!/usr/bin/env bash
# What the Docker image test (tests/deploy/test_dockerfile.py) builds with: Debian's buildah
# (daemonless, chroot isolation, no Docker engine needed) and the Dockerfile's base image,
# python:3.11-slim, in buildah's local image store.
# The base is pulled when its registry can be reached. Where it cannot (this workplace reaches
# package registries only), a stand-in of the same name is made from Debian's own packages with
# debootstrap: Debian bookworm (the Debian release of python:3.11-slim-bookworm) with Debian's
# Python 3.11 and venv, `python` on PATH, labelled org.wabridge.base=debootstrap.
# Idempotent: does nothing when buildah and the base are there. Needs root and apt-get.
set -euo pipefail
BASE=docker.io/library/python:3.11-slim
SUITE=bookworm

if ! command -v buildah >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.d/image-builder.sh: buildah and debootstrap are missing and there is no root apt-get to install them; the Docker image test will fail" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends buildah debootstrap >/dev/null
fi

if [ -n "$(buildah images --quiet "$BASE" 2>/dev/null)" ]; then
  exit 0
fi
if timeout 120 buildah pull --quiet "$BASE" >/dev/null 2>&1; then
  exit 0
fi

mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d)
container=""
cleanup() {
  [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
echo "setup.d/image-builder.sh: $BASE cannot be pulled here; making a stand-in from Debian $SUITE packages" >&2
debootstrap --variant=minbase \
  --include=python3.11,python3.11-venv,python3-distutils,ca-certificates,passwd \
  "$SUITE" "$root/rootfs" "$mirror" >"$root/debootstrap.log" 2>&1 || {
  tail -n 20 "$root/debootstrap.log" >&2
  exit 1
}
rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/lib/apt/lists/*
mkdir -p "$root/rootfs/usr/local/bin"
ln -sf /usr/bin/python3.11 "$root/rootfs/usr/local/bin/python"
container=$(buildah from scratch)
mount=$(buildah mount "$container")
cp -a "$root/rootfs/." "$mount/"
buildah umount "$container" >/dev/null
buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd python3 --label org.wabridge.base=debootstrap \
  --label "org.wabridge.debian-suite=$SUITE" "$container"
buildah commit --quiet --rm "$container" "$BASE" >/dev/null
container=""

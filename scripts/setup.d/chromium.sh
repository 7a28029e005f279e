#!/usr/bin/env bash
# A headless Chromium for the HTML-export test (the transcript opened in a real browser).
# Idempotent: does nothing when a Chromium is already on PATH. Without root or apt-get it
# only warns; the test then checks the HTML without a browser and says it skipped that part.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.d/chromium.sh: no chromium and no root apt-get; the browser check of the HTML export will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null

#!/usr/bin/env bash
# checkov (infrastructure-as-code scanner) in its own virtualenv: it pins versions of shared
# libraries (packaging<24, ...) that must not leak into the project's environment.
# Idempotent: reinstalls only when the pinned version changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
CHECKOV_VERSION=3.3.30
VENV=.tools/checkov-venv
PYTHON=${PYTHON:-python3}
if [ -x "$VENV/bin/checkov" ] && [ "$(cat "$VENV/.wabridge-version" 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
  exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
echo "$CHECKOV_VERSION" > "$VENV/.wabridge-version"

"""``wabridge demo`` runs from any directory with only the installed package, and ends verified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_plays_both_ways_and_ends_with_verify_ok(tmp_path: Path):
    wabridge = Path(sys.executable).with_name("wabridge")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WHATSAPP_", "Microsoft", "ARCHIVE_", "AZURE_", "WABRIDGE_"))
    }
    done = subprocess.run(
        [str(wabridge), "demo", "--archive", str(tmp_path / "archive")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "new thread in the inbox" in out and "Ana Pereira (+15555550123)" in out
    assert "Cloud API send to +15555550123" in out
    assert "Teams card now: ✓✓ Read" in out
    assert "$ wabridge archive search" in out and "It left our warehouse" in out
    assert out.rstrip().splitlines()[-1].startswith("verify OK")

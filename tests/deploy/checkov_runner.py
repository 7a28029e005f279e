"""Run checkov (installed in its own virtualenv by scripts/setup.d/checkov.sh) and read its JSON.

checkov exits 0 when it cannot parse a Bicep file, having run no check on it: callers must
look at ``parsing_errors`` and at what was actually checked, never only at the exit status.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".tools" / "checkov-venv" / "bin" / "checkov"


@dataclass
class CheckovReport:
    passed: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)

    def files_checked(self) -> set[str]:
        return {c["file_path"].lstrip("/") for c in self.passed + self.failed + self.skipped}

    def describe_failures(self) -> str:
        return "\n".join(
            f"{c['check_id']} {c['check_name']} on {c['resource']} ({c['file_path']})"
            for c in self.failed
        )


def run_checkov(*target: str, framework: str) -> CheckovReport:
    """``run_checkov("-d", "infra", framework="bicep")``, offline."""
    if not CHECKOV.exists():
        raise AssertionError(f"{CHECKOV} is missing: run scripts/test (scripts/setup.d/checkov.sh)")
    run = subprocess.run(
        [str(CHECKOV), *target, "--framework", framework, "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    if run.returncode not in (0, 1):
        raise AssertionError(f"checkov exited {run.returncode}: {run.stderr[-2000:]}")
    data = json.loads(run.stdout)
    report = CheckovReport()
    for part in data if isinstance(data, list) else [data]:
        results = part.get("results", {})
        report.passed += results.get("passed_checks", [])
        report.failed += results.get("failed_checks", [])
        report.skipped += results.get("skipped_checks", [])
        report.parsing_errors += results.get("parsing_errors", [])
        if not results and part.get("parsing_errors"):
            report.parsing_errors += ["(count only)"] * int(part["parsing_errors"])
    return report

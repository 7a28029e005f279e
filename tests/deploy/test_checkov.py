"""Security review of infra/ and the Dockerfile with checkov, offline: no failed check, no
parsing error, every skip justified in the file that skips it."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.deploy.checkov_runner import REPO, run_checkov

INFRA = REPO / "infra"
SKIP_RE = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    broken = tmp_path_factory.mktemp("broken-infra")
    shutil.copytree(INFRA, broken / "infra")
    storage = broken / "infra" / "modules" / "storage.bicep"
    # One missing closing brace: the kind of slip a Bicep compiler would catch.
    text = storage.read_text()
    storage.write_text(text.replace("isVersioningEnabled: true\n", "isVersioningEnabled: {\n", 1))
    jobs = {
        "infra": (("-d", str(INFRA)), "bicep"),
        "dockerfile": (("-f", str(REPO / "Dockerfile")), "dockerfile"),
        "broken": (("-d", str(broken / "infra")), "bicep"),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {
            name: pool.submit(run_checkov, *args, framework=fw) for name, (args, fw) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def test_infra_has_no_failed_check_and_no_parsing_error(reports):
    report = reports["infra"]
    assert report.parsing_errors == []
    assert report.failed == [], report.describe_failures()
    # Zero checks would mean checkov saw nothing: each module with security settings was checked.
    assert {
        "main.bicep",
        "modules/storage.bicep",
        "modules/keyvault.bicep",
        "modules/web.bicep",
    } <= report.files_checked()
    assert len(report.passed) >= 30


def test_every_skip_is_justified_in_the_file(reports):
    report = reports["infra"]
    for check in report.skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        where = f"{check['check_id']} on {check['resource']}"
        assert len(reason) >= 30, f"{where} skipped without a reason"
    written = []
    for path in INFRA.rglob("*.bicep"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_RE.search(line)
            if match:
                written.append((path.name, number, match.group(1)))
                assert match.group(2) and len(match.group(2).strip()) >= 30, (
                    f"{path.name}:{number}: checkov:skip={match.group(1)} needs ': <reason>'"
                )
    # Every skip in the files took effect (none is misplaced outside its resource).
    assert len(written) == len(report.skipped)


def test_a_bicep_parse_error_is_caught_although_checkov_exits_zero(reports):
    report = reports["broken"]
    assert report.parsing_errors, "a Bicep syntax error went unnoticed"
    assert "modules/storage.bicep" not in report.files_checked()


def test_dockerfile_passes_checkov(reports):
    report = reports["dockerfile"]
    assert report.parsing_errors == []
    assert report.failed == [], report.describe_failures()
    ids = {c["check_id"] for c in report.passed}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= ids  # HEALTHCHECK present, non-root USER

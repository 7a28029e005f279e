"""Bad input: fuzzed webhook bodies (validly signed) and CLI arguments.

Never a 5xx (storage is up here), never an unhandled exception in the service log, never a
partial record: every record validates against ``record.schema.json`` and ``archive verify``
passes; oversize and deeply nested JSON are refused; path-like and control characters in ids,
names and wamids never leave the archive layout.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main as cli_main
from bot.whatsapp.webhook import MAX_BODY
from bridge.ids import INTERNAL_CONVERSATION, safe_component
from tests.fakes.meta_graph import sign_body, text_delivery
from tests.faults.harness import APP_SECRET, PNID, service_env, tracebacks
from tests.support.processes import ROOT, Service
from tests.whatsapp.fixtures import load, names

SCHEMA = json.loads((ROOT / "bridge" / "schema" / "record.schema.json").read_text())
FIXTURES = [load(name) for name in sorted(names())]
#: Figures for the closing note: how many fuzz cases each property ran.
CASES: dict[str, int] = {}

#: Strings that try to leave a directory or smuggle control characters into a name.
NASTY = st.sampled_from(
    [
        "../../../../etc/passwd",
        "..",
        ".",
        "/",
        "a/../../b",
        "..\\..\\windows",
        "C:\\x",
        "\x00",
        "\n\r\t",
        "\x1b[31m",
        "%2e%2e%2f",
        "~root",
        "wamid.ab/cd+ef==",
        "null",
        "",
        " ",
        "\u202e\u0000",
        "CON",
        "a" * 400,
    ]
) | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | NASTY
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz")
    env = service_env(
        "",
        "",
        "http://127.0.0.1:9/v23.0",
        ARCHIVE_URL=str(workdir / "archive"),
        WABRIDGE_MEDIA_QUICK_SECONDS="0",
    )
    for key in ("AZURE_STORAGE_CONNECTION_STRING", "ARCHIVE_CONTAINER"):
        env.pop(key)
    instance = Service(workdir, env).start()
    try:
        yield instance
    finally:
        instance.stop()
    assert not tracebacks(instance.log)


def post(service: Service, body: bytes, signature: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        service.url + "/api/whatsapp",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature or sign_body(body, APP_SECRET),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def mutate(value: Any, path: list[int], replacement: Any, action: int) -> Any:
    """Follow ``path`` (indices taken modulo the size of each level) and replace, delete or
    add at the spot reached."""
    root = copy.deepcopy(value)
    node = root
    for step in path:
        children = (
            list(node.keys())
            if isinstance(node, dict)
            else (list(range(len(node))) if isinstance(node, list) else [])
        )
        if not children:
            break
        key = children[step % len(children)]
        child = node[key]
        if not isinstance(child, dict | list) or action == 0:
            if action == 1:
                del node[key]
            else:
                node[key] = replacement
            return root
        node = child
    if isinstance(node, dict):
        node[f"x{action}"] = replacement
    elif isinstance(node, list):
        node.append(replacement)
    return root


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    base=st.sampled_from(FIXTURES),
    path=st.lists(st.integers(0, 50), max_size=10),
    replacement=JSON,
    action=st.integers(0, 2),
)
def test_mutated_deliveries_are_archived_or_refused_never_5xx(
    service, base, path, replacement, action
) -> None:
    CASES["mutated deliveries"] = CASES.get("mutated deliveries", 0) + 1
    body = json.dumps(mutate(base, path, replacement, action)).encode()
    status, _ = post(service, body)
    assert status in (200, 400), status


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=JSON)
def test_arbitrary_json_is_archived_or_refused_never_5xx(service, value) -> None:
    CASES["arbitrary JSON"] = CASES.get("arbitrary JSON", 0) + 1
    status, _ = post(service, json.dumps(value).encode())
    assert status in (200, 400), status


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(wa_id=NASTY, name=NASTY, wamid=NASTY, pnid=NASTY | st.just(PNID))
def test_path_like_ids_and_names_are_archived_inside_the_layout(
    service, wa_id, name, wamid, pnid
) -> None:
    CASES["path-like ids"] = CASES.get("path-like ids", 0) + 1
    payload = text_delivery(pnid, wa_id, "hello", name=name, wamid=wamid)
    status, _ = post(service, json.dumps(payload).encode())
    assert status in (200, 400), status


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
def test_deeply_nested_json_is_refused_with_400(service, depth) -> None:
    body = b'{"object":"whatsapp_business_account","entry":' + b"[" * depth + b"]" * depth + b"}"
    status, text = post(service, body)
    assert status == 400, (status, text)
    assert "nest" in text


def test_oversize_body_is_refused_with_413(service) -> None:
    status, _ = post(service, b"[" + b"0," * (MAX_BODY // 2) + b"0]")
    assert status == 413


CLI_WORDS = st.sampled_from(
    [
        "archive",
        "search",
        "show",
        "verify",
        "stats",
        "pending",
        "manifest",
        "build",
        "validate",
        "--json",
        "--limit",
        "--from",
        "--to",
        "--since",
        "--until",
        "--conversation",
        "--kind",
        "--platform",
        "--direction",
        "--text",
        "--skip-media",
        "--help",
        "-h",
        "--out",
        "--archive",
        "--contact",
        "--type",
        "--source-id",
        "-1",
        "0",
        "9" * 30,
        "2026-13-45",
        "yesterday",
        "../../etc",
        "\x00",
        "\x1b[2J",
        "wamid.a/b+c==",
        "",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(words=st.lists(CLI_WORDS | NASTY, max_size=6))
def test_cli_never_raises_on_any_arguments(service, tmp_path_factory, words) -> None:
    CASES["CLI argument lists"] = CASES.get("CLI argument lists", 0) + 1
    archive = str(service.cwd / "archive")
    out, err = io.StringIO(), io.StringIO()
    argv = words if words[:1] != ["archive"] else [*words[:2], "--archive", archive, *words[2:]]
    if argv[:1] == ["serve"] or "--out" in argv or "build" in argv:
        return  # starting a server or writing files is not what this property is about
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code
    assert isinstance(code, int)
    if code not in (0,):
        assert err.getvalue().strip(), "a refusal says why"
        assert "Traceback" not in err.getvalue()


def test_archive_holds_only_whole_valid_records_inside_its_layout(service) -> None:
    """Runs after the fuzzing above (same module-scoped service and archive)."""
    root = (service.cwd / "archive").resolve()
    records = 0
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root)
        if not path.is_file() or path.parts[len(root.parts)] in (".tmp", ".locks"):
            continue
        parts = path.relative_to(root).parts
        assert parts[0] in ("records", "ledger", "media", "state"), parts
        for part in parts:
            assert part not in ("", ".", "..") and not any(ord(c) < 32 for c in part), parts
        if parts[0] != "records":
            continue
        record = json.loads(path.read_bytes())
        errors = sorted(validator.iter_errors(record), key=str)
        assert not errors, (path, errors[:3])
        assert parts[1] == safe_component(record["conversation"] or INTERNAL_CONVERSATION)
        assert len(parts) == 6 and parts[5].endswith(".json")
        records += 1
    print(f"\nfuzz: {CASES} cases; {records} records in the archive, all valid")
    assert records > 0
    _verify_local(service.cwd, root)


def _verify_local(cwd: Path, root: Path) -> None:
    from tests.support.processes import clean_env, wabridge

    done = wabridge("archive", "verify", cwd=cwd, env=clean_env(ARCHIVE_URL=str(root)))
    assert done.returncode == 0, done.stdout + done.stderr

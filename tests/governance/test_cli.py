"""``wabridge users|policy|contacts`` as an operator runs them (local and Azurite archives)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys

import pytest

from bot.cli import main
from bridge.archive import Archive
from tests.fakes.ms_graph import make_users
from tests.governance.conftest import POLICY_FILE, TENANT, records_of
from tests.governance.demo import ANA, BEN, build_demo_archive

OID = "0b7e3f1e-4444-4a4a-9c9c-00000000c0c0"


@pytest.fixture
def cli_env(archive_location, monkeypatch, tmp_path):
    for name in (
        "ARCHIVE_URL",
        "AZURE_STORAGE_CONNECTION_STRING",
        "ARCHIVE_CONTAINER",
        "WABRIDGE_POLICY_FILE",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "GRAPH_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in archive_location["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return archive_location


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_add_list_remove(cli_env, capsys):
    code, out, _ = run(
        capsys,
        "users",
        "add",
        "--upn",
        "cara@contoso.example",
        "--object-id",
        OID.upper(),
        "--name",
        "Cara Diaz",
        "--by",
        "it-admin",
    )
    assert code == 0 and out == f"authorized cara@contoso.example ({OID})\n"
    code, out, _ = run(capsys, "users", "list")
    assert code == 0
    assert "cara@contoso.example" in out and OID in out and "it-admin" in out
    code, out, _ = run(capsys, "users", "list", "--json")
    assert json.loads(out)["object_id"] == OID
    code, out, _ = run(capsys, "users", "remove", "--object-id", OID)
    assert code == 0 and "withdrew" in out
    code, out, _ = run(capsys, "users", "list")
    assert out == "no authorized users\n"

    async def audits():
        store = cli_env["open"]()
        try:
            return await records_of(Archive(store), "audit")
        finally:
            await store.close()

    assert [a["type"] for a in asyncio.run(audits())] == ["user_added", "user_removed"]


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "add", "--upn", "cara@contoso.example", "--object-id", "not-a-guid"],
        ["users", "add", "--upn", "cara", "--object-id", OID],
        ["users", "remove", "--upn", "nobody@contoso.example"],
    ],
)
def test_users_bad_input_is_one_line(cli_env, capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert err.startswith("wabridge: ") and err.count("\n") == 1


def test_users_report_and_contacts_on_a_demo_archive(cli_env, capsys, monkeypatch):
    async def demo():
        store = cli_env["open"]()
        try:
            await store.ensure_ready()
            await build_demo_archive(Archive(store))
        finally:
            await store.close()

    asyncio.run(demo())
    monkeypatch.setenv("WABRIDGE_POLICY_FILE", str(POLICY_FILE))
    code, out, _ = run(capsys, "users", "report")
    assert code == 0
    rows = {r["upn"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"ana@contoso.example", "ben@contoso.example"}
    ana, ben = rows["ana@contoso.example"], rows["ben@contoso.example"]
    assert ana["object_id"] == ANA.object_id and ben["object_id"] == BEN.object_id
    assert ana["acknowledged_current"] == "yes" and ben["acknowledged_current"] == "no"
    assert [a.split("@")[0] for a in ana["acknowledgements"].split("; ")] == ["2026-10", "2026-11"]
    counts = (ana["messages"], ana["sent"], ana["flagged"], ana["blocked"], ana["refused"])
    assert counts == ("4", "3", "1", "1", "0")
    assert ana["last_activity"] and ben["last_activity"] == ""
    assert ana["added_by"] == "cli:admin"

    code, out, _ = run(capsys, "contacts", "list")
    assert code == 0 and "447700900123" in out and "Sam Carter" in out and "2 contact(s)" in out
    code, out, _ = run(capsys, "contacts", "show", "+44 7700 900123", "--json")
    shown = json.loads(out)
    assert (shown["messages_in"], shown["messages_out"]) == (2, 3)
    assert shown["first_seen"] == "2026-11-20T09:00:00.000Z"
    assert shown["last_seen"] == "2026-11-20T09:05:00.000Z"
    assert shown["opt_in"]["kind"] == "wrote first" and shown["opt_in"]["record"]
    code, out, _ = run(capsys, "contacts", "show", "5511987654321")
    assert "accepted a template" in out
    code, _, err = run(capsys, "contacts", "show", "123")
    assert code == 1 and err == "wabridge: no contact with wa_id 123\n"


def test_policy_check_prints_the_rules_that_fire_and_exits_0(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("WABRIDGE_POLICY_FILE", str(POLICY_FILE))
    code, out, _ = run(
        capsys, "policy", "check", "--text", "Pay with 4111 1111 1111 1111 for guaranteed returns"
    )
    assert code == 0
    assert "BLOCK  payment-card" in out and "FLAG   promissory" in out
    assert "2 rule(s) fire: 1 block, 1 flag" in out
    code, out, _ = run(capsys, "policy", "check", "--text", "Hello")
    assert code == 0 and "no rule fires" in out


def test_policy_check_without_a_policy_or_with_a_bad_one(cli_env, capsys, tmp_path):
    code, _, err = run(capsys, "policy", "check", "--text", "x")
    assert code == 2 and "WABRIDGE_POLICY_FILE" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[policy]\nversion = "1"\ntext = "t"\n[[rules]]\nname = "r"\n'
        'detector = "ssn"\naction = "block"\nreason = "x"\n'
    )
    code, _, err = run(capsys, "policy", "check", "--text", "x", "--policy-file", str(bad))
    assert code == 2 and err == (
        f"wabridge: {bad}:4: rule 'r': unknown detector 'ssn' (known: iban, payment_card)\n"
    )


def test_users_sync_names_missing_credentials(cli_env, capsys):
    code, _, err = run(capsys, "users", "sync", "--group", "g")
    assert code == 2
    assert err == (
        "wabridge: directory sync needs AZURE_TENANT_ID, AZURE_CLIENT_ID, "
        "AZURE_CLIENT_SECRET (or --managed-identity on an Azure host)\n"
    )


async def _wabridge(env: dict, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main())",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_users_sync_command_against_the_fake_graph(cli_env, ms_graph, loopback_cert):
    ms_graph.groups["grp"] = make_users(120)
    env = {
        **os.environ,
        **cli_env["env"],
        "GRAPH_URL": ms_graph.base_url,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": ms_graph.client_id,
        "AZURE_CLIENT_SECRET": ms_graph.client_secret,
        "AZURE_AUTHORITY_HOST": ms_graph.authority_url,
        "SSL_CERT_FILE": str(loopback_cert.cert_file),
    }
    code, out, err = await _wabridge(env, "users", "sync", "--group", "grp")
    assert code == 0, err
    assert out.endswith("sync of group grp: 120 added, 0 updated, 0 removed\n")

    ms_graph.fail_page(1, status=500)
    code, out, err = await _wabridge(env, "users", "sync", "--group", "grp")
    assert code == 3 and err.count("\n") == 1, err
    assert "status 500" in err and "the registry is unchanged" in err
    code, out, _ = await _wabridge(env, "users", "list")
    assert "120 authorized user(s)" in out

"""Legal hold blocks retention; every read and every hold leaves an audit record."""

from __future__ import annotations

import json

from bridge.archive import Archive
from bridge.readside.hold import HoldRegistry
from bridge.readside.index import ArchiveIndex
from bridge.readside.query import RecordQuery
from bridge.readside.retention import retention_report
from tests.readside.support import CONTACT, CONV, build, build_sync, cli_env, run_cli


async def test_hold_blocks_retention_from_touching_held_records(archive_location, tmp_path):
    archive = Archive(archive_location["open"]())
    records = await build(archive, 40)
    index = ArchiveIndex(tmp_path / "i.sqlite3", archive.store.description)
    held_ids = {r.id for r in records if r.conversation == CONV}
    registry = HoldRegistry(archive)
    await registry.add(
        "Doe v. Contoso", conversation=CONV, participant=None, by="officer@contoso.com"
    )
    touched: list[str] = []

    async def dispose(name: str) -> None:
        touched.append(name)

    cutoff = "2030-01-01T00:00:00.000Z"  # everything is past retention
    report = await retention_report(archive, index, cutoff=cutoff, dispose=dispose)
    names_by_id = {h.id: h.name for h in index.search(RecordQuery())}
    held_names = {names_by_id[i] for i in held_ids}
    assert report.past == 45 and report.held == len(held_ids) == 5
    assert held_names.isdisjoint(touched) and held_names.isdisjoint(report.eligible)
    assert len(touched) == report.disposed == 40
    # A participant hold (any phone form) holds that contact's records in every conversation.
    await registry.add("Second matter", conversation=None, participant="+44 7700 900123", by="x")
    await registry.clear("Doe v. Contoso", by="officer@contoso.com")
    report = await retention_report(archive, index, cutoff=cutoff)
    assert report.held == 4 and report.held_by_case == {"Second matter": 4}  # not the policy event
    await registry.clear("Second matter", by="x")
    report = await retention_report(archive, index, cutoff=cutoff)
    assert report.held == 0 and len(report.eligible) == 45
    # Cleared holds stay in the registry with who cleared them.
    assert [(h.case, h.cleared_by) for h in await registry.all()] == [
        ("Doe v. Contoso", "officer@contoso.com"),
        ("Second matter", "x"),
    ]
    index.close()
    await archive.close()


def test_every_read_and_hold_leaves_an_audit_record(archive_location, tmp_path):
    records = build_sync(archive_location["open"])
    officer = ["--as", "Officer@Contoso.com"]
    out_dir = tmp_path / "export"
    with cli_env(archive_location, tmp_path):
        steps = [
            ("search", ["archive", "search", "--participant", CONTACT, "--json", *officer], 4),
            ("show", ["archive", "show", records[0].id, *officer], 1),
            (
                "export",
                [
                    "archive",
                    "export",
                    "--format",
                    "eml",
                    "--out",
                    str(out_dir),
                    "--conversation",
                    CONV,
                    *officer,
                ],
                5,
            ),
            (
                "hold-set",
                ["archive", "hold", "set", "--case", "Matter 7", "--conversation", CONV, *officer],
                5,
            ),
            ("hold-list", ["archive", "hold", "list", *officer], 1),
            ("hold-clear", ["archive", "hold", "clear", "--case", "Matter 7", *officer], 5),
            ("stats", ["archive", "stats", *officer], None),
            ("retention", ["archive", "retention", "--days", "1", *officer], None),
            ("show", ["archive", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", *officer], 0),
        ]
        outputs = {}
        for action, argv, _ in steps:
            code, out, err = run_cli(*argv)
            outputs.setdefault(action, []).append((code, out, err))
        assert outputs["show"][1][0] == 1 and "no record with id" in outputs["show"][1][2]
        hold_out = outputs["hold-set"][0][1]
        if archive_location["backend"] == "azurite":
            # Azurite has no storage legal hold (501): said clearly, the app-level hold stands.
            assert "storage legal hold: not available here" in hold_out
        assert "application-level hold is in force" in hold_out
        code, out, _ = run_cli("archive", "search", "--kind", "audit", "--json")
    audits = [json.loads(line) for line in out.splitlines()]
    assert [a["type"] for a in audits] == [a for a, _, _ in steps]
    for audit, (action, _, count) in zip(audits, steps, strict=True):
        assert audit["platform"] == "teams" and audit["direction"] == "internal"
        assert audit["sender"]["upn"] == "Officer@Contoso.com"
        assert audit["raw"]["action"] == action and audit["text"]
        if count is not None:
            assert audit["raw"]["count"] == count, action
    assert audits[0]["raw"]["query"] == {"participant": CONTACT}
    assert audits[2]["raw"]["export_path"] == str(out_dir) and audits[2]["raw"]["format"] == "eml"
    # Without --as, the OS user is named.
    with cli_env(archive_location, tmp_path):
        run_cli("archive", "search", "--kind", "policy")
        _, out, _ = run_cli("archive", "search", "--kind", "audit", "--json")
        last = json.loads(out.splitlines()[-1])
        assert last["sender"]["id"].startswith("os:") and last["raw"]["query"] == {"kind": "policy"}
        code, _, err = run_cli("archive", "search", "--as", "not a upn")
        assert code == 2 and "user principal name" in err


def test_bad_read_side_input_is_a_one_line_error(tmp_path):
    from tests.readside.support import run_cli

    archive = ["--archive", str(tmp_path / "a")]
    cases = [
        ["archive", "hold", "set", "--case", "M"],
        ["archive", "hold", "set", "--case", "M", "--conversation", CONV, "--participant", "1"],
        ["archive", "hold", "clear", "--case", "nothing held"],
        ["archive", "export", "--format", "pdf", "--out", str(tmp_path / "o")],
        ["archive", "search", "--text", "  "],
        ["archive", "retention", "--days", "-1"],
    ]
    for argv in cases:
        code, out, err = run_cli(*argv, *archive)
        assert code != 0, argv
        assert len(err.strip().splitlines()) == 1, (argv, err)

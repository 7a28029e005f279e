"""`wabridge manifest build|validate`: a good package passes; a broken one is refused with a
message that says what to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.teams_app import png
from bot.teams_app.resources import SCHEMA_VERSION
from bot.teams_app.validate import validate_package, validate_path
from tests.teams_app.conftest import (
    APP_ID,
    BOT_ID,
    DOMAIN,
    REPO,
    read_zip,
    rewrite_manifest,
    write_zip,
)


def test_built_package_has_the_three_files_at_its_root_and_validates(package: Path):
    files = read_zip(package)
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]
    assert validate_package(package, domain=DOMAIN) == []


def test_built_manifest_carries_the_deployment_values(package: Path):
    manifest = json.loads(read_zip(package)["manifest.json"])
    assert manifest["manifestVersion"] == SCHEMA_VERSION
    assert manifest["$schema"].endswith(f"/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json")
    assert manifest["id"] == APP_ID
    assert manifest["version"] == "1.2.3"
    bot = manifest["bots"][0]
    assert bot["botId"] == BOT_ID == manifest["webApplicationInfo"]["id"]
    assert set(bot["scopes"]) == {"team", "personal", "groupChat"}
    assert bot["supportsFiles"] is True
    titles = {c["title"] for cl in bot["commandLists"] for c in cl["commands"]}
    assert {"setup", "new", "help", "template"} <= titles
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in (
        manifest["authorization"]["permissions"]["resourceSpecific"]
    )
    assert manifest["validDomains"] == [DOMAIN]
    assert "{{" not in json.dumps(manifest)


def test_building_twice_gives_identical_bytes(tmp_path: Path, params, package: Path):
    from bot.teams_app.build import build_package

    again = tmp_path / "again.zip"
    build_package(params, again)
    assert again.read_bytes() == package.read_bytes()


def test_cli_build_then_validate_from_another_directory(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "manifest",
            "build",
            "--app-id",
            APP_ID,
            "--bot-id",
            BOT_ID.upper(),
            "--domain",
            DOMAIN,
            "--version",
            "2.0.1",
            "--privacy-url",
            "https://contoso.example/privacy",
            "--terms-url",
            "https://contoso.example/terms",
            "--out",
            "out/app.zip",
        ]
    )
    assert code == 0
    out = capsys.readouterr()
    assert "wrote out/app.zip" in out.out and BOT_ID in out.out
    manifest = json.loads(read_zip(tmp_path / "out" / "app.zip")["manifest.json"])
    assert manifest["bots"][0]["botId"] == BOT_ID  # normalised to lower case
    assert manifest["developer"]["privacyUrl"] == "https://contoso.example/privacy"
    assert main(["manifest", "validate", "out/app.zip", "--domain", DOMAIN]) == 0
    assert "valid Teams app package" in capsys.readouterr().out


def test_cli_validate_accepts_a_manifest_json_with_icons_beside_it(tmp_path: Path, package, capsys):
    for name, data in read_zip(package).items():
        (tmp_path / name).write_bytes(data)
    assert main(["manifest", "validate", str(tmp_path / "manifest.json")]) == 0
    (tmp_path / "outline.png").unlink()
    assert main(["manifest", "validate", str(tmp_path / "manifest.json")]) == 1
    assert "outline.png: missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--bot-id", "my-bot"], "--bot-id: 'my-bot' is not a GUID"),
        (["--app-id", "12345"], "--app-id: '12345' is not a GUID"),
        (["--domain", "https://x.azurewebsites.net/api/messages"], "give the host name only"),
        (["--domain", "not a domain"], "is not a host name"),
        (["--version", "1.0"], "--version: '1.0' must be MAJOR.MINOR.PATCH"),
        (["--privacy-url", "http://contoso.example/privacy"], "must be an https:// URL"),
    ],
)
def test_cli_build_refuses_bad_parameters_and_writes_nothing(tmp_path, capsys, argv, expected):
    options = {"--app-id": APP_ID, "--bot-id": BOT_ID, "--domain": DOMAIN}
    options.update(zip(argv[::2], argv[1::2], strict=True))
    args = ["manifest", "build", *[x for pair in options.items() for x in pair]]
    out = tmp_path / "app.zip"
    assert main([*args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "fix them and run again" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_build_without_required_options_names_them(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["manifest", "build", "--out", "x.zip"])
    assert exc.value.code == 2
    assert "--app-id" in capsys.readouterr().err


def _outline(opaque_corners=False, colored=False) -> bytes:
    def pixel(x, y):
        if colored and 10 <= x < 20 and 10 <= y < 20:
            return (200, 30, 30, 255)
        if 8 <= x < 24 and 8 <= y < 24:
            return (255, 255, 255, 255)
        return (0, 0, 0, 255) if opaque_corners else (255, 255, 255, 0)

    return png.encode_rgba(32, 32, [[pixel(x, y) for x in range(32)] for y in range(32)])


def _set(path, value):
    def change(manifest):
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path):
    def change(manifest):
        node = manifest
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


MANIFEST_BREAKAGES = {
    "bot id not a GUID": (
        _set(["bots", 0, "botId"], "wabridge-bot"),
        "$.bots[0].botId: 'wabridge-bot' is not a GUID",
    ),
    "bot id differs from webApplicationInfo.id": (
        _set(["bots", 0, "botId"], "11111111-2222-3333-4444-555555555555"),
        "$.webApplicationInfo.id: is 7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0 but bots[0].botId is "
        "11111111-2222-3333-4444-555555555555: both must be the bot's Microsoft App ID",
    ),
    "bad scope": (
        _set(["bots", 0, "scopes"], ["team", "channel"]),
        "$.bots[0].scopes[1]: 'channel' is not one of ['team', 'personal', 'groupChat', 'copilot']",
    ),
    "scope missing": (
        _set(["bots", 0, "scopes"], ["personal"]),
        "$.bots[0].scopes: must include 'team', 'groupChat'",
    ),
    "RSC permission missing": (
        _delete(["authorization"]),
        'must contain {"name": "ChannelMessage.Read.Group", "type": "Application"}',
    ),
    "webApplicationInfo missing": (
        _delete(["webApplicationInfo"]),
        "$.webApplicationInfo: missing: resource-specific consent needs webApplicationInfo",
    ),
    "old manifest version": (
        _set(["manifestVersion"], "1.16"),
        f"$.manifestVersion: is '1.16', but this validator checks manifest version "
        f"{SCHEMA_VERSION}",
    ),
    "unknown property": (
        _set(["botz"], []),
        "('botz' was unexpected): remove it or correct its spelling",
    ),
    "domain with scheme": (
        _set(["validDomains"], ["https://wabridge-contoso.azurewebsites.net"]),
        "must be a host name only, without scheme or path",
    ),
    "no bot": (
        _set(["bots"], []),
        "$.bots: the package needs exactly one bot",
    ),
    "files not supported": (
        _set(["bots", 0, "supportsFiles"], False),
        "$.bots[0].supportsFiles: must be true",
    ),
    "command missing": (
        _set(["bots", 0, "commandLists"], [{"scopes": ["team"], "commands": [{"title": "help"}]}]),
        "the bot's commands 'setup', 'new', 'template' are not listed",
    ),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_BREAKAGES))
def test_broken_manifest_is_refused_saying_what_to_fix(tmp_path, package, capsys, case):
    change, expected = MANIFEST_BREAKAGES[case]
    broken = rewrite_manifest(package, tmp_path / "broken.zip", change)
    assert main(["manifest", "validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert err.strip().splitlines()[-1].endswith("fix them and run again")


def _replace(name, data):
    def change(files):
        files[name] = data

    return change


def _drop(name):
    def change(files):
        del files[name]

    return change


def _nest(files):
    moved = {f"appPackage/{name}": data for name, data in files.items()}
    files.clear()
    files.update(moved)


PACKAGE_BREAKAGES = {
    "missing outline icon": (
        _drop("outline.png"),
        "outline.png: missing: the manifest's icons.outline names 'outline.png', which is not in "
        "the package",
    ),
    "missing color icon": (_drop("color.png"), "color.png: missing"),
    "color icon of the wrong size": (
        _replace("color.png", png.encode_rgba(96, 96, [[(0, 0, 0, 255)] * 96] * 96)),
        "color.png: the color icon is 96x96 pixels; it must be 192x192",
    ),
    "outline icon of the wrong size": (
        _replace("outline.png", (REPO / "manifest" / "color.png").read_bytes()),
        "outline.png: the outline icon is 192x192 pixels; it must be 32x32",
    ),
    "outline icon with an opaque background": (
        _replace("outline.png", _outline(opaque_corners=True)),
        "the outline icon's background is not transparent",
    ),
    "outline icon not white": (
        _replace("outline.png", _outline(colored=True)),
        "the outline icon has 100 non-white pixels: it must be white (#FFFFFF)",
    ),
    "outline icon is a JPEG": (
        _replace("outline.png", b"\xff\xd8\xff\xe0 not a png"),
        "outline.png: the outline icon must be a PNG file",
    ),
    "zipped the folder instead of the files": (
        _nest,
        "manifest.json is inside the folder 'appPackage': zip the files themselves",
    ),
    "manifest is not JSON": (
        _replace("manifest.json", b'{"id": '),
        "manifest.json: is not valid JSON: line 1 column 8",
    ),
    "unsafe entry name": (
        _replace("../evil.png", b"x"),
        "entry '../evil.png' has an unsafe path",
    ),
}


@pytest.mark.parametrize("case", sorted(PACKAGE_BREAKAGES))
def test_broken_package_is_refused_saying_what_to_fix(tmp_path, package, capsys, case):
    change, expected = PACKAGE_BREAKAGES[case]
    files = read_zip(package)
    change(files)
    broken = write_zip(tmp_path / "broken.zip", files)
    assert main(["manifest", "validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert expected in err, err


def test_validate_with_domain_requires_it_in_valid_domains(package, capsys):
    assert main(["manifest", "validate", str(package), "--domain", "other.example.com"]) == 1
    err = capsys.readouterr().err
    assert "does not contain the bot's domain 'other.example.com': add it" in err


def test_validate_refuses_a_missing_file_and_a_non_zip(tmp_path, capsys):
    assert main(["manifest", "validate", str(tmp_path / "nope.zip")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 truncated")
    problems = validate_path(tmp_path / "junk.zip")
    assert len(problems) == 1 and "is not a readable zip file" in str(problems[0])


def test_committed_icons_are_what_the_script_draws(tmp_path):
    """The icons in manifest/ are ours: the script redraws them pixel for pixel (the bytes
    depend on the compressor's version)."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_icons.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("color.png", "outline.png"):
        drawn = png.decode((tmp_path / name).read_bytes())
        committed = png.decode((REPO / "manifest" / name).read_bytes())
        assert (drawn.width, drawn.height, drawn.pixels) == (
            committed.width,
            committed.height,
            committed.pixels,
        )

"""Fill the manifest template and write the Teams app package (a zip)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.teams_app.problems import MANIFEST_NAME, PackageInvalid, Problem
from bot.teams_app.resources import ICON_NAMES, TEMPLATE_NAME, template_dir
from bot.teams_app.rules import DOMAIN_RE, GUID_HINT, GUID_RE
from bot.teams_app.validate import check_manifest, validate_package

SEMVER_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
PLACEHOLDER_RE = re.compile(r"\{\{([A-Z_]+)\}\}")
#: Zip entries get a fixed time so that the same inputs give the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PackageParams:
    """What differs between deployments. URLs default to pages under the bot's domain."""

    app_id: str
    bot_id: str
    domain: str
    version: str = "1.0.0"
    app_name: str = "WhatsApp"
    developer_name: str = "wabridge"
    website_url: str | None = None
    privacy_url: str | None = None
    terms_url: str | None = None

    def problems(self) -> list[Problem]:
        """Parameter errors, each naming the option to correct."""
        found = []
        for option, value in (("--app-id", self.app_id), ("--bot-id", self.bot_id)):
            if not GUID_RE.match(value or ""):
                found.append(Problem(option, f"{value!r} is not a GUID ({GUID_HINT})"))
        if "://" in self.domain or "/" in self.domain:
            found.append(
                Problem(
                    "--domain",
                    (
                        f"{self.domain!r}: give the host name only, without https:// or a path "
                        "(e.g. wabridge-contoso.azurewebsites.net)"
                    ),
                )
            )
        elif not DOMAIN_RE.match(self.domain.lower()):
            found.append(
                Problem(
                    "--domain",
                    (
                        f"{self.domain!r} is not a host name (e.g. wabridge-contoso.azurewebsites.net)"
                    ),
                )
            )
        if not SEMVER_RE.match(self.version):
            found.append(
                Problem(
                    "--version",
                    (
                        f"{self.version!r} must be MAJOR.MINOR.PATCH, e.g. 1.0.0 (raise it for each "
                        "upload of a changed package)"
                    ),
                )
            )
        if not 0 < len(self.app_name) <= 30:
            found.append(Problem("--name", "must be 1 to 30 characters"))
        if not 0 < len(self.developer_name) <= 32:
            found.append(Problem("--developer-name", "must be 1 to 32 characters"))
        for option, value in (
            ("--website-url", self.website_url),
            ("--privacy-url", self.privacy_url),
            ("--terms-url", self.terms_url),
        ):
            if value is not None and not value.lower().startswith("https://"):
                found.append(Problem(option, f"{value!r} must be an https:// URL"))
        return found

    def substitutions(self) -> dict[str, str]:
        base = f"https://{self.domain.lower()}"
        return {
            "APP_ID": self.app_id.lower(),
            "BOT_ID": self.bot_id.lower(),
            "DOMAIN": self.domain.lower(),
            "VERSION": self.version,
            "APP_NAME": self.app_name,
            "DEVELOPER_NAME": self.developer_name,
            "WEBSITE_URL": self.website_url or f"{base}/",
            "PRIVACY_URL": self.privacy_url or f"{base}/privacy",
            "TERMS_URL": self.terms_url or f"{base}/terms",
        }


def render_manifest(template: object, values: dict[str, str]) -> object:
    """Replace ``{{NAME}}`` in every string of the parsed template (never in raw JSON text,
    so a value cannot break the document's structure)."""
    if isinstance(template, dict):
        return {key: render_manifest(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render_manifest(item, values) for item in template]
    if isinstance(template, str):

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"the manifest template uses {{{{{name}}}}}, which has no value")
            return values[name]

        return PLACEHOLDER_RE.sub(replace, template)
    return template


def manifest_bytes(manifest: object) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build_package(params: PackageParams, out: Path, *, source: Path | None = None) -> dict:
    """Write the package to ``out`` and return its manifest.

    Raises :class:`PackageInvalid` (nothing written) when a parameter or the result is wrong.
    """
    problems = params.problems()
    if problems:
        raise PackageInvalid(problems)
    source = source or template_dir()
    template = json.loads((source / TEMPLATE_NAME).read_text(encoding="utf-8"))
    manifest = render_manifest(template, params.substitutions())
    files = {MANIFEST_NAME: manifest_bytes(manifest)}
    for name in ICON_NAMES:
        files[name] = (source / name).read_bytes()
    problems = check_manifest(manifest, files, domain=params.domain.lower())
    if problems:
        raise PackageInvalid(problems)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".app-", suffix=".zip", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        problems = validate_package(Path(tmp_name), domain=params.domain.lower())
        if problems:
            raise PackageInvalid(problems)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return manifest

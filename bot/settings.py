"""Typed settings, loaded once at the edge from the environment and an optional ``.env`` file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v23.0"
DEFAULT_MS_GRAPH_URL = "https://graph.microsoft.com/v1.0"


class ConfigError(Exception):
    """Configuration is missing or invalid; the message names the variables."""


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments; optional single or double quotes around values."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_environment(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """The process environment over the working directory's ``.env`` (the environment wins)."""
    merged = read_dotenv((cwd or Path.cwd()) / ".env")
    merged.update(os.environ if environ is None else environ)
    return merged


@dataclass(frozen=True)
class ArchiveSettings:
    """Only what the archive needs: the CLI's commands other than ``serve`` use just this."""

    archive_url: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    container: str | None = None
    #: Where search-index cache files of Azure archives go (``WABRIDGE_INDEX_DIR``).
    index_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], override_url: str | None = None) -> ArchiveSettings:
        return cls(
            archive_url=override_url or env.get("ARCHIVE_URL") or None,
            connection_string=env.get("AZURE_STORAGE_CONNECTION_STRING") or None,
            container=env.get("ARCHIVE_CONTAINER") or None,
            index_dir=env.get("WABRIDGE_INDEX_DIR") or None,
        )

    def open_store(self):
        from bridge.store import open_store

        return open_store(
            self.archive_url, connection_string=self.connection_string, container=self.container
        )


@dataclass(frozen=True)
class Settings:
    """Everything ``wabridge serve`` needs. Secrets are excluded from ``repr``."""

    archive: ArchiveSettings
    host: str = "0.0.0.0"
    port: int = 3978
    dev_mode: bool = False
    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    whatsapp_access_token: str = field(default="", repr=False)
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: str = field(default="", repr=False)
    whatsapp_verify_token: str = field(default="", repr=False)
    whatsapp_graph_url: str = DEFAULT_GRAPH_URL
    ms_graph_url: str = DEFAULT_MS_GRAPH_URL
    policy_file: str | None = None
    #: Where the signing keys of Bot Framework channel tokens are published. Unset: Microsoft's.
    #: Pointing it elsewhere trusts whoever holds those keys; the service warns at start-up.
    bot_openid_metadata_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, archive_override: str | None = None) -> Settings:
        """Load and check; raises :class:`ConfigError` naming every missing variable."""
        env = load_environment() if env is None else env
        dev_mode = env.get("WABRIDGE_DEV_MODE", "") == "1"
        try:
            port = int(env.get("PORT") or 3978)
            if not 0 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise ConfigError(f"PORT must be a TCP port number, not {env.get('PORT')!r}") from None
        app_type = env.get("MicrosoftAppType") or "MultiTenant"
        if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
            raise ConfigError(
                f"MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI, not {app_type!r}"
            )
        settings = cls(
            archive=ArchiveSettings.from_env(env, archive_override),
            host=env.get("HOST") or "0.0.0.0",
            port=port,
            dev_mode=dev_mode,
            app_id=env.get("MicrosoftAppId", ""),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_type=app_type,
            app_tenant_id=env.get("MicrosoftAppTenantId", ""),
            whatsapp_access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
            whatsapp_phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
            whatsapp_app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            whatsapp_verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            whatsapp_graph_url=(env.get("WHATSAPP_GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
            ms_graph_url=(env.get("GRAPH_URL") or DEFAULT_MS_GRAPH_URL).rstrip("/"),
            policy_file=env.get("WABRIDGE_POLICY_FILE") or None,
            bot_openid_metadata_url=env.get("WABRIDGE_BOT_OPENID_METADATA_URL") or None,
            extra=dict(env),
        )
        missing = settings.missing_secrets()
        if missing and not dev_mode:
            raise ConfigError(
                "missing configuration: " + ", ".join(missing)
                + " (set them, or WABRIDGE_DEV_MODE=1 for a development run without them)"
            )
        return settings

    def missing_secrets(self) -> list[str]:
        missing = []
        for var, value in (
            ("WHATSAPP_APP_SECRET", self.whatsapp_app_secret),
            ("WHATSAPP_VERIFY_TOKEN", self.whatsapp_verify_token),
            ("WHATSAPP_ACCESS_TOKEN", self.whatsapp_access_token),
            ("WHATSAPP_PHONE_NUMBER_ID", self.whatsapp_phone_number_id),
            ("MicrosoftAppId", self.app_id),
        ):
            if not value:
                missing.append(var)
        if self.app_type != "UserAssignedMSI" and not self.app_password:
            missing.append("MicrosoftAppPassword")
        # botbuilder's credential factory needs the tenant for both (not for MultiTenant).
        if self.app_type in ("SingleTenant", "UserAssignedMSI") and not self.app_tenant_id:
            missing.append("MicrosoftAppTenantId")
        return missing

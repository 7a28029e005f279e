"""Typed settings, loaded once at the edge from the environment and an optional ``.env`` file.

:meth:`Settings.from_env` is the only place that reads the service's environment variables
(DESIGN.md §3.2); every part of the service gets its values from the :class:`Settings` it is
given. A bad value is a :class:`ConfigError` naming the variable (``wabridge serve`` prints it
on one line and exits 2); a missing secret is one too, unless ``WABRIDGE_DEV_MODE=1``.

Sub-settings group what one concern needs: :class:`ArchiveSettings` (all the CLI's read
commands need), :class:`WebhookSettings`, :class:`MediaSettings`, :class:`RelaySettings`,
:class:`GovernanceSettings` and :class:`AzureCredentials` (the directory sync's identity).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bridge.store.factory import BLOB_WRITERS

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v23.0"
DEFAULT_MS_GRAPH_URL = "https://graph.microsoft.com/v1.0"
APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")


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
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_environment(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> dict[str, str]:
    """The process environment over the working directory's ``.env`` (the environment wins)."""
    merged = read_dotenv((cwd or Path.cwd()) / ".env")
    merged.update(os.environ if environ is None else environ)
    return merged


class Env:
    """Typed reads of an environment mapping; every bad value is a ConfigError naming it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return value if value else default

    def flag(self, name: str) -> bool:
        """``1`` on, ``0`` or unset off; anything else is refused (a switch is never guessed)."""
        value = (self.values.get(name) or "").strip()
        if value not in ("", "0", "1"):
            raise ConfigError(f"{name} must be 1 or 0, not {value!r}")
        return value == "1"

    def seconds(
        self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        raw = self.values.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise ConfigError(f"{name} must be at least {minimum:g} seconds, not {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum:g} seconds, not {raw!r}")
        return value

    def count(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.values.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.values.get(name) or default
        if value not in choices:
            raise ConfigError(f"{name} must be {', '.join(choices)}, not {value!r}")
        return value

    def port(self, name: str, default: int) -> int:
        raw = self.values.get(name)
        try:
            value = int(raw or default)
            if not 0 <= value <= 65535:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{name} must be a TCP port number, not {raw!r}") from None
        return value


@dataclass(frozen=True)
class ArchiveSettings:
    """Only what the archive needs: the CLI's commands other than ``serve`` use just this."""

    archive_url: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    container: str | None = None
    #: Where search-index cache files of Azure archives go (``WABRIDGE_INDEX_DIR``).
    index_dir: str | None = None
    #: How an Azure archive writes records (``WABRIDGE_BLOB_WRITER``): ``rest`` (default, the
    #: Put Blob request sent directly) or ``sdk`` (the same request through ``azure-storage-blob``).
    blob_writer: str = "rest"
    #: Where checkpoints of the ledger are kept (``WABRIDGE_ANCHOR_URL``, or
    #: ``WABRIDGE_ANCHOR_CONTAINER`` with the connection string); see ``bridge.anchor.store``.
    anchor_url: str | None = None
    anchor_container: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], override_url: str | None = None) -> ArchiveSettings:
        read = Env(env)
        blob_writer = read.text("WABRIDGE_BLOB_WRITER", "rest")
        if blob_writer not in BLOB_WRITERS:
            raise ConfigError(
                f"WABRIDGE_BLOB_WRITER must be {' or '.join(BLOB_WRITERS)}, not {blob_writer!r}"
            )
        return cls(
            archive_url=override_url or read.text("ARCHIVE_URL"),
            connection_string=read.text("AZURE_STORAGE_CONNECTION_STRING"),
            container=read.text("ARCHIVE_CONTAINER"),
            index_dir=read.text("WABRIDGE_INDEX_DIR"),
            blob_writer=blob_writer,
            anchor_url=read.text("WABRIDGE_ANCHOR_URL"),
            anchor_container=read.text("WABRIDGE_ANCHOR_CONTAINER"),
        )

    def open_store(self):
        from bridge.store import open_store

        return open_store(
            self.archive_url,
            connection_string=self.connection_string,
            container=self.container,
            blob_writer=self.blob_writer,
        )

    def open_anchor(self, archive_store, override_url: str | None = None):
        """The anchor store, or None when none is configured; raises ``ValueError`` (naming the
        variable) for one inside the archive or otherwise unusable."""
        from bridge.anchor.store import open_anchor

        return open_anchor(
            override_url or self.anchor_url,
            container=None if override_url else self.anchor_container,
            connection_string=self.connection_string,
            archive=archive_store,
        )


@dataclass(frozen=True)
class WebhookSettings:
    """``POST /api/whatsapp`` admission."""

    #: Deliveries archived at once per instance (``WABRIDGE_MAX_INFLIGHT_DELIVERIES``); beyond
    #: it a delivery is answered 503 at once and Meta retries it.
    max_inflight: int = 64

    @classmethod
    def from_env(cls, read: Env) -> WebhookSettings:
        return cls(read.count("WABRIDGE_MAX_INFLIGHT_DELIVERIES", cls.max_inflight))


@dataclass(frozen=True)
class MediaSettings:
    """Timing of media capture, in seconds (``WABRIDGE_MEDIA_*_SECONDS``)."""

    quick_budget: float = 2.0
    retry_base: float = 5.0
    retry_cap: float = 3600.0
    poll_interval: float = 5.0
    #: How long an attempt holds its item: an instance that dies mid-fetch (crash, SIGKILL)
    #: leaves the item to the others, or to its own restart, once this has passed.
    lease: float = 600.0

    @classmethod
    def from_env(cls, read: Env) -> MediaSettings:
        return cls(
            quick_budget=read.seconds("WABRIDGE_MEDIA_QUICK_SECONDS", cls.quick_budget),
            retry_base=read.seconds("WABRIDGE_MEDIA_RETRY_SECONDS", cls.retry_base),
            retry_cap=read.seconds("WABRIDGE_MEDIA_RETRY_CAP_SECONDS", cls.retry_cap),
            poll_interval=read.seconds("WABRIDGE_MEDIA_POLL_SECONDS", cls.poll_interval),
            lease=read.seconds("WABRIDGE_MEDIA_LEASE_SECONDS", cls.lease),
        )


@dataclass(frozen=True)
class RelaySettings:
    """The relay between WhatsApp and Teams."""

    #: Approved WhatsApp templates (``WABRIDGE_TEMPLATES_FILE``, TOML).
    templates_file: str | None = None
    #: The service's public base URL for media links in Teams posts (``WABRIDGE_PUBLIC_URL``).
    public_url: str | None = None
    #: How often the ledger is looked at without a hand-off (``WABRIDGE_RELAY_POLL_SECONDS``).
    poll_seconds: float = 2.0
    #: First backoff of a rate-limited send (``WABRIDGE_SEND_RETRY_SECONDS``), then 2x, 4x.
    send_retry_seconds: float = 1.0

    @classmethod
    def from_env(cls, read: Env) -> RelaySettings:
        return cls(
            templates_file=read.text("WABRIDGE_TEMPLATES_FILE"),
            public_url=read.text("WABRIDGE_PUBLIC_URL"),
            poll_seconds=read.seconds(
                "WABRIDGE_RELAY_POLL_SECONDS", cls.poll_seconds, minimum=0.01
            ),
            send_retry_seconds=read.seconds("WABRIDGE_SEND_RETRY_SECONDS", cls.send_retry_seconds),
        )


@dataclass(frozen=True)
class AzureCredentials:
    """An app registration's client secret (``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``,
    ``AZURE_CLIENT_SECRET``), or with ``managed_identity`` the host's managed identity (then
    ``client_id`` names a user-assigned one)."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    managed_identity: bool = False

    @classmethod
    def from_env(cls, read: Env, *, managed_identity: bool = False) -> AzureCredentials:
        return cls(
            read.text("AZURE_TENANT_ID"),
            read.text("AZURE_CLIENT_ID"),
            read.text("AZURE_CLIENT_SECRET"),
            managed_identity,
        )

    def missing(self) -> list[str]:
        if self.managed_identity:
            return []
        return [
            name
            for name, value in (
                ("AZURE_TENANT_ID", self.tenant_id),
                ("AZURE_CLIENT_ID", self.client_id),
                ("AZURE_CLIENT_SECRET", self.client_secret),
            )
            if not value
        ]


@dataclass(frozen=True)
class GovernanceSettings:
    """The registry cache and the scheduled directory sync (DESIGN.md §3.6, §3.7)."""

    #: How long a registry read is reused (``WABRIDGE_REGISTRY_CACHE_SECONDS``).
    registry_cache_seconds: float = 3.0
    #: The Entra ID group the registry is synced to (``WABRIDGE_USERS_SYNC_GROUP``); None: no sync.
    sync_group: str | None = None
    #: Seconds between syncs (``WABRIDGE_USERS_SYNC_INTERVAL``, at least 60).
    sync_interval: float = 3600.0
    #: The sync's identity (``WABRIDGE_USERS_SYNC_MANAGED_IDENTITY=1``: the managed identity).
    credentials: AzureCredentials = field(default_factory=AzureCredentials)

    @classmethod
    def from_env(cls, read: Env) -> GovernanceSettings:
        settings = cls(
            registry_cache_seconds=read.seconds(
                "WABRIDGE_REGISTRY_CACHE_SECONDS", cls.registry_cache_seconds
            ),
            sync_group=read.text("WABRIDGE_USERS_SYNC_GROUP"),
            sync_interval=read.seconds(
                "WABRIDGE_USERS_SYNC_INTERVAL", cls.sync_interval, minimum=60
            ),
            credentials=AzureCredentials.from_env(
                read, managed_identity=read.flag("WABRIDGE_USERS_SYNC_MANAGED_IDENTITY")
            ),
        )
        missing = settings.credentials.missing()
        if settings.sync_group and missing:
            raise ConfigError(
                "WABRIDGE_USERS_SYNC_GROUP is set but the directory sync needs "
                + ", ".join(missing)
                + " (or WABRIDGE_USERS_SYNC_MANAGED_IDENTITY=1 on an Azure host)"
            )
        return settings


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
    #: Seconds between two checkpoints of the ledger into the anchor
    #: (``WABRIDGE_CHECKPOINT_SECONDS``, 1 to 86400).
    checkpoint_seconds: float = 300.0
    #: Where the signing keys of Bot Framework channel tokens are published. Unset: Microsoft's.
    #: Pointing it elsewhere trusts whoever holds those keys; the service warns at start-up.
    bot_openid_metadata_url: str | None = None
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, archive_override: str | None = None
    ) -> Settings:
        """Load and check; raises :class:`ConfigError` naming the variable at fault, or every
        missing secret."""
        env = load_environment() if env is None else env
        read = Env(env)
        dev_mode = read.flag("WABRIDGE_DEV_MODE")
        settings = cls(
            archive=ArchiveSettings.from_env(env, archive_override),
            host=read.text("HOST", "0.0.0.0") or "0.0.0.0",
            port=read.port("PORT", 3978),
            dev_mode=dev_mode,
            app_id=env.get("MicrosoftAppId", ""),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_type=read.choice("MicrosoftAppType", "MultiTenant", APP_TYPES),
            app_tenant_id=env.get("MicrosoftAppTenantId", ""),
            whatsapp_access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
            whatsapp_phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
            whatsapp_app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            whatsapp_verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            whatsapp_graph_url=(read.text("WHATSAPP_GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
            ms_graph_url=(read.text("GRAPH_URL") or DEFAULT_MS_GRAPH_URL).rstrip("/"),
            policy_file=read.text("WABRIDGE_POLICY_FILE"),
            checkpoint_seconds=read.seconds(
                "WABRIDGE_CHECKPOINT_SECONDS", 300.0, minimum=1, maximum=86400
            ),
            bot_openid_metadata_url=read.text("WABRIDGE_BOT_OPENID_METADATA_URL"),
            webhook=WebhookSettings.from_env(read),
            media=MediaSettings.from_env(read),
            relay=RelaySettings.from_env(read),
            governance=GovernanceSettings.from_env(read),
        )
        missing = settings.missing_secrets()
        if missing and not dev_mode:
            raise ConfigError(
                "missing configuration: "
                + ", ".join(missing)
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

    def public_url(self) -> str:
        """The base URL Teams clients reach this service at (for media links)."""
        if self.relay.public_url:
            return self.relay.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"

"""The time zone an export shows its times in: a named IANA zone, or the machine's own.

Records keep UTC (RFC 3339 ``Z``); only what a person reads is converted. Every time shown
carries its offset (``2026-10-01 10:00:00 +01:00``), so a reader never has to guess the zone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.record import parse_rfc3339


class UnknownTimeZone(ValueError):
    """The name given is not an IANA time zone this machine knows."""


@dataclass(frozen=True)
class Zone:
    """Converts instants for display. ``tz`` None means the machine's local rules (DST-aware
    for every instant, unlike a fixed offset taken once)."""

    name: str
    tz: tzinfo | None

    @classmethod
    def named(cls, name: str) -> Zone:
        name = (name or "").strip()
        if name.upper() in ("UTC", "Z", "ETC/UTC"):
            return cls("UTC", UTC)
        try:
            return cls(name, ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise UnknownTimeZone(
                f"unknown time zone {name!r} (an IANA name such as Europe/London or UTC)"
            ) from None

    @classmethod
    def local(cls) -> Zone:
        """The machine's zone, named after ``TZ`` or ``/etc/localtime`` when they name one."""
        name = _local_zone_name()
        if name:
            try:
                return cls.named(name)
            except UnknownTimeZone:
                pass
        return cls(datetime.now().astimezone().strftime("%Z") or "local", None)

    @classmethod
    def resolve(cls, name: str | None) -> Zone:
        return cls.local() if name is None else cls.named(name)

    def convert(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()

    def at(self, value: str | None) -> datetime | None:
        """An RFC 3339 string converted into this zone (None if it is not a time)."""
        try:
            return self.convert(parse_rfc3339(str(value or "")))
        except ValueError:
            return None

    def show(self, value: str | None, *, seconds: bool = True) -> str:
        """``2026-10-01 10:00:00 +01:00`` (the string itself if it is not a time)."""
        moment = self.at(value)
        if moment is None:
            return str(value or "")
        fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        return moment.strftime(fmt) + " " + offset_text(moment)

    def clock(self, value: str | None) -> str:
        """``10:00 +01:00``: the time of day with its offset, for a line under a day heading."""
        moment = self.at(value)
        return moment.strftime("%H:%M:%S ") + offset_text(moment) if moment else str(value or "")

    def day(self, value: str | None) -> str:
        """The calendar day (``YYYY-MM-DD``) of an instant in this zone."""
        moment = self.at(value)
        return moment.strftime("%Y-%m-%d") if moment else "0000-00-00"


def offset_text(moment: datetime) -> str:
    """``+01:00`` / ``-05:00`` / ``+00:00``."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _local_zone_name() -> str | None:
    tz = os.environ.get("TZ", "").lstrip(":").strip()
    if tz:
        return tz
    try:
        target = Path("/etc/localtime").resolve()
    except OSError:
        return None
    parts = target.parts
    if "zoneinfo" in parts:
        return "/".join(parts[parts.index("zoneinfo") + 1 :]) or None
    return None

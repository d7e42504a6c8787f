"""The calendar feed (.ics) of an RM's planned contacts, written per RFC 5545.

Small enough to write by hand rather than add a library: one VCALENDAR with one all-day
VEVENT per open planned contact. What the RFC asks for, and what is done here:

- lines end in CRLF and are folded at 75 octets (of UTF-8, never inside a character)
  by a CRLF and one space (§3.1);
- TEXT values escape backslash, semicolon, comma and newlines (§3.3.11);
- an all-day event is ``DTSTART;VALUE=DATE`` with the exclusive ``DTEND`` the next day
  (§3.6.1); ``DTSTAMP`` and ``LAST-MODIFIED`` are UTC date-times;
- each event has a ``UID`` stable across fetches (the planned contact's id and the
  bank), so a calendar updates an event instead of duplicating it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.utils import timezone

CRLF = "\r\n"
FOLD_OCTETS = 75
PRODID = "-//VIP CRM//Contact plans//ZH"


@dataclass(frozen=True)
class CalendarEvent:
    """One all-day event."""

    uid: str
    day: datetime.date
    summary: str
    description: str = ""
    url: str = ""
    categories: Sequence[str] = ()
    last_modified: datetime.datetime | None = None


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): ``\\`` ``;`` ``,`` and newlines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """A content line folded at 75 octets (§3.1), continuation lines start with a space.

    Splits between characters only: a Chinese character is three octets in UTF-8 and a
    calendar must never receive half of one.
    """
    parts: list[str] = []
    current, size, limit = [], 0, FOLD_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, FOLD_OCTETS - 1  # the leading space counts
        current.append(char)
        size += width
    parts.append("".join(current))
    return (CRLF + " ").join(parts)


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _date(day: datetime.date) -> str:
    return day.strftime("%Y%m%d")


def calendar_text(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    time_zone: str,
    now: datetime.datetime | None = None,
    properties: Mapping[str, str] | None = None,
) -> str:
    """The whole VCALENDAR as text (CRLF line ends, folded)."""
    now = now or timezone.now()
    stamp = _utc(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"X-WR-TIMEZONE:{time_zone}",
        # Ask subscribers to refresh hourly (RFC 7986 and the de-facto Apple/Google twin).
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for key, value in (properties or {}).items():
        lines.append(f"{key}:{escape_text(value)}")
    for event in events:
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{event.uid}",
                f"DTSTAMP:{stamp}",
                f"DTSTART;VALUE=DATE:{_date(event.day)}",
                f"DTEND;VALUE=DATE:{_date(event.day + datetime.timedelta(days=1))}",
                f"SUMMARY:{escape_text(event.summary)}",
            ]
        )
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        if event.categories:
            lines.append("CATEGORIES:" + ",".join(escape_text(c) for c in event.categories))
        if event.last_modified is not None:
            lines.append(f"LAST-MODIFIED:{_utc(event.last_modified)}")
        lines.extend(["TRANSP:TRANSPARENT", "END:VEVENT"])
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)

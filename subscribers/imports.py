"""CSV import and export of a list's members.

Import reads UTF-8 (with or without BOM), falling back to Latin-1, with comma or semicolon
separators. Each line is checked on its own: a bad line is reported with its reason and never
aborts the others, and each good line is written in a savepoint, so no half record is stored.
Export neutralises cells that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from subscribers import lists
from subscribers.errors import InvalidInput
from subscribers.models import (
    ACTIVE,
    ERASED,
    SUB_ACTIVE,
    ConsentEvent,
    MailingList,
    Member,
    Subscription,
)
from subscribers.validation import (
    COUNTRIES,
    LANGUAGES,
    SECTORS,
    choice,
    clean_text,
    normalise_email,
)

COLUMNS = ("email", "name", "organisation", "country", "sector", "language")
MAX_BYTES = 20 * 1024 * 1024


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"added {self.added}, updated {self.updated}, skipped {len(self.skipped)}"]
        lines += [f"line {line}: {reason}" for line, reason in self.skipped]
        return "\n".join(lines)


def decode(raw: bytes) -> str:
    """UTF-8 (BOM or not), else Latin-1 (every byte sequence decodes)."""
    if len(raw) > MAX_BYTES:
        raise InvalidInput("the file is larger than 20 MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header decides the columns, comma or semicolon."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise InvalidInput("the first line must name the columns, including 'email'")
    reader.fieldnames = header
    for row in reader:
        values = {
            k: (v or "").strip() for k, v in row.items() if k in COLUMNS and isinstance(v, str)
        }
        yield reader.line_num, values


def _checked(row: dict[str, str]) -> dict[str, str]:
    return {
        "email": normalise_email(row.get("email", "")),
        "name": clean_text(row.get("name"), field="name", label="name"),
        "organisation": clean_text(
            row.get("organisation"), field="organisation", label="organisation"
        ),
        "country": choice(
            (row.get("country") or "").upper(), COUNTRIES, field="country", label="country"
        ),
        "sector": choice(
            (row.get("sector") or "").lower(), SECTORS, field="sector", label="sector"
        ),
        "language": choice(
            (row.get("language") or "").lower(), LANGUAGES, field="language", label="language"
        )
        or "en",
    }


def import_members(
    session: Session,
    list_slug: str,
    raw: bytes,
    *,
    consent_note: str,
    now: datetime,
    actor: str = "cli",
) -> ImportReport:
    """Add or update members from CSV and subscribe them to the list, line by line."""
    note = clean_text(consent_note, field="consent_note", label="consent note", limit=500)
    if not note:
        raise InvalidInput("a consent note is required: say how these people agreed to be mailed")
    mailing_list = lists.by_slug(session, list_slug)
    report, seen = ImportReport(), set()
    for line, row in rows(decode(raw)):
        try:
            data = _checked(row)
        except InvalidInput as err:
            report.skipped.append((line, str(err)))
            continue
        if data["email"] in seen:
            report.skipped.append((line, f"duplicate of an earlier line ({data['email']})"))
            continue
        seen.add(data["email"])
        if outbox.suppressed(session, [data["email"]]):
            report.skipped.append((line, "address is suppressed (erased or bounced)"))
            continue
        with session.begin_nested():
            added = _upsert(session, mailing_list, data, note=note, now=now, actor=actor)
        if added:
            report.added += 1
        else:
            report.updated += 1
    return report


def _upsert(
    session: Session,
    mailing_list: MailingList,
    data: dict[str, str],
    *,
    note: str,
    now: datetime,
    actor: str,
) -> bool:
    member = session.execute(
        select(Member).where(Member.email == data["email"])
    ).scalar_one_or_none()
    added = member is None
    if member is None:
        member = Member(**data, status=ACTIVE, created_at=now, confirmed_at=now)
    else:
        # Update details, but never resubscribe someone who left: their choice wins.
        for key in ("name", "organisation", "country", "sector"):
            if data[key]:
                setattr(member, key, data[key])
    session.add(member)
    session.flush()
    assert member.id is not None and mailing_list.id is not None
    sub = session.execute(
        select(Subscription).where(
            Subscription.member_id == member.id, Subscription.list_id == mailing_list.id
        )
    ).scalar_one_or_none()
    if sub is None and member.status not in ("unsubscribed", ERASED):
        session.add(
            Subscription(
                member_id=member.id,
                list_id=mailing_list.id,
                status=SUB_ACTIVE,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            ConsentEvent(
                member_id=member.id,
                list_id=mailing_list.id,
                action="imported",
                source=f"import by {actor}",
                note=note,
                at=now,
            )
        )
    session.flush()
    return added


def _safe_cell(value: str) -> str:
    # A leading = + - @ (or tab/CR) makes spreadsheets evaluate the cell (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_members(session: Session, list_slug: str) -> str:
    """The list's subscribers as CSV, every cell safe to open in a spreadsheet."""
    mailing_list = lists.by_slug(session, list_slug)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, "status", "subscribed_at"])
    stmt = (
        select(Member, Subscription)
        .join(Subscription, Subscription.member_id == Member.id)
        .where(Subscription.list_id == mailing_list.id, Member.status != ERASED)
        .order_by(Member.id)
    )
    for member, sub in session.execute(stmt):
        writer.writerow(
            [
                _safe_cell(str(v))
                for v in (
                    member.email or "",
                    member.name,
                    member.organisation,
                    member.country,
                    member.sector,
                    member.language,
                    sub.status,
                    sub.created_at.isoformat(),
                )
            ]
        )
    return out.getvalue()

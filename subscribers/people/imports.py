"""CSV import and export of a list's members.

Import reads UTF-8 (with or without BOM), falling back to Latin-1, with comma or semicolon
separators. Each line is checked on its own: a bad line is reported with its reason and never
aborts the others, and each good line is written in a savepoint, so no half record is stored.
Export neutralises cells that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session, col

from mailer import outbox
from subscribers.admin import webhooks
from subscribers.content import lists
from subscribers.core.errors import Conflict, InvalidInput
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    ACTIVE,
    ERASED,
    SUB_ACTIVE,
    ConsentEvent,
    MailingList,
    Member,
    Subscription,
    member_search_text,
    new_nonce,
)
from subscribers.core.validation import (
    COUNTRIES,
    LANGUAGES,
    SECTORS,
    choice,
    clean_text,
    normalise_email,
)
from subscribers.people import consent, suppressions
from subscribers.people.csv_export import csv_text

COLUMNS = ("email", "name", "organisation", "country", "sector", "language")
MAX_BYTES = 20 * 1024 * 1024
PREVIEW_ROWS = 10
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
# A well-formed UTF-8 multi-byte sequence: in a file that fails to decode as UTF-8, finding one
# means "UTF-8 with a few bad lines" (pasted from elsewhere) rather than a Latin-1 file.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _delimiter_name(delimiter: str) -> str:
    """The separator as the preview names it to staff (``DELIMITERS`` in their language)."""
    names = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}
    return names[delimiter]


def _suppressed() -> str:
    return _("address is suppressed (erased or bounced)")


def _wrong_encoding() -> str:
    return _("wrong encoding: this line is not UTF-8 like the rest of the file")


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"added {self.added}, updated {self.updated}, skipped {len(self.skipped)}"]
        lines += [f"line {line}: {reason}" for line, reason in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # as shown to staff: "UTF-8", "UTF-8 with BOM", "Latin-1 (Windows-1252)"...


def decode_file(raw: bytes, *, max_bytes: int = MAX_BYTES) -> Decoded:
    """UTF-8 (BOM or not) or UTF-16 with BOM, else Windows-1252, else Latin-1.

    A UTF-8 file with a few lines in another encoding keeps its UTF-8 lines; the others carry
    U+FFFD and are skipped (wrong encoding), instead of garbling the whole file as Latin-1.
    """
    if len(raw) > max_bytes:
        raise InvalidInput(
            _("the file is larger than %(size)s MB", size=max_bytes // (1024 * 1024))
        )
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(raw.decode("utf-16"), "UTF-16")
        except UnicodeDecodeError:
            raise InvalidInput(_("the file starts like UTF-16 but is not valid UTF-16")) from None
    if b"\x00" in raw:
        raise InvalidInput(_("this is not a CSV text file (a spreadsheet? save it as CSV first)"))
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        return Decoded(raw.decode("utf-8-sig"), _("UTF-8 with BOM") if bom else "UTF-8")
    except UnicodeDecodeError:
        pass
    if bom or _UTF8_SEQUENCE.search(raw):
        return Decoded(raw.decode("utf-8-sig", errors="replace"), _("UTF-8, some lines not"))
    try:
        return Decoded(raw.decode("cp1252"), "Latin-1 (Windows-1252)")
    except UnicodeDecodeError:
        return Decoded(raw.decode("latin-1"), "Latin-1 (ISO-8859-1)")  # every byte decodes


def decode(raw: bytes) -> str:
    """The file's text (see ``decode_file``)."""
    return decode_file(raw).text


@dataclass(frozen=True)
class Table:
    delimiter: str
    header: list[str]
    lines: Iterator[tuple[int, dict[str, str]]]


def parse(text: str) -> Table:
    """The header decides the columns; the separator is whichever of , ; or tab it has most."""
    first = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first.count)  # ties go to the comma, the first
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as err:
        raise InvalidInput(_("line 1: not readable as CSV (%(reason)s)", reason=str(err))) from None
    if "email" not in header:
        raise InvalidInput(_("the first line must name the columns, including 'email'"))
    repeated = sorted({h for h in header if h in COLUMNS and header.count(h) > 1})
    if repeated:
        # Which of the two holds the address (or the name)? Neither is guessed.
        raise InvalidInput(
            _("the first line names the column '%(column)s' twice: keep one", column=repeated[0])
        )
    reader.fieldnames = header
    return Table(delimiter, header, _lines(reader))


def _lines(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        for row in reader:
            values = {
                k: (v or "").strip() for k, v in row.items() if k in COLUMNS and isinstance(v, str)
            }
            if any(values.values()):  # a line of empty cells (";;;;") is no row
                yield reader.line_num, values
    except csv.Error as err:
        # A broken file is refused whole: the caller's transaction rolls back what came before.
        raise InvalidInput(
            _(
                "not readable as CSV after line %(line)s (%(reason)s)",
                line=reader.line_num,
                reason=str(err),
            )
        ) from None


def rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of the file's data lines."""
    return parse(text).lines


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


def _check_line(row: dict[str, str], seen: set[str]) -> dict[str, str] | str:
    """The line's checked values, or why it is skipped (the session-free checks)."""
    if any("\ufffd" in value for value in row.values()):
        return _wrong_encoding()
    try:
        data = _checked(row)
    except InvalidInput as err:
        return str(err)
    if data["email"] in seen:
        return _("duplicate of an earlier line (%(email)s)", email=data["email"])
    seen.add(data["email"])
    return data


def _consent_note(consent_note: str) -> str:
    note = clean_text(consent_note, field="consent_note", label=_("consent note"), limit=500)
    if not note:
        raise InvalidInput(
            _("a consent note is required: say how these people agreed to be mailed")
        )
    return note


def import_members(
    session: Session,
    list_slug: str,
    raw: bytes,
    *,
    consent_note: str,
    now: datetime,
    actor: str = "cli",
    max_bytes: int = MAX_BYTES,
) -> ImportReport:
    """Add or update members from CSV in the caller's transaction (small files: the demo);
    a staff import runs as a job in short transactions (``start_job``, ``run_job``)."""
    note = _consent_note(consent_note)
    mailing_list = lists.by_slug(session, list_slug)
    report = ImportReport()
    lines = list(rows(decode_file(raw, max_bytes=max_bytes).text))
    _import_lines(session, mailing_list, lines, set(), report, note=note, now=now, actor=actor)
    return report


def _import_lines(
    session: Session,
    mailing_list: MailingList,
    lines: list[tuple[int, dict[str, str]]],
    seen: set[str],
    report: ImportReport,
    *,
    note: str,
    now: datetime,
    actor: str,
) -> None:
    """Import some lines in the caller's transaction, counting them in ``report``.

    The lines are written together (a few queries for all of them, not a few per line); if one
    fails, the caller's transaction takes all of them back, so no half record is ever stored.
    """
    checked = [(line, _check_line(row, seen)) for line, row in lines]
    addresses = [data["email"] for _line, data in checked if not isinstance(data, str)]
    suppressed = outbox.suppressed(session, addresses)
    good: list[dict[str, str]] = []
    for line, data in checked:
        if isinstance(data, str):
            report.skipped.append((line, data))
        elif data["email"] in suppressed:
            report.skipped.append((line, _suppressed()))
        else:
            good.append(data)
    if good:
        added = _upsert(session, mailing_list, good, note=note, now=now, actor=actor)
        report.added += added
        report.updated += len(good) - added


def import_member(
    session: Session,
    list_slugs: Sequence[str],
    row: dict[str, str],
    *,
    consent_note: str,
    now: datetime,
    actor: str,
) -> bool:
    """One person who agreed elsewhere, subscribed at once as a CSV line would be (the API's
    trusted sources). True when the member is new; InvalidInput or Conflict say why not."""
    note = _consent_note(consent_note)
    chosen = [lists.by_slug(session, slug) for slug in dict.fromkeys(list_slugs)]
    data = _checked(row)
    if outbox.suppressed(session, [data["email"]]):
        raise Conflict(_suppressed())
    added = 0
    for mailing_list in chosen:
        added += _upsert(session, mailing_list, [data], note=note, now=now, actor=actor)
    return added > 0


@dataclass(frozen=True)
class PreviewRow:
    line: int
    values: dict[str, str]
    problem: str  # why the import would skip it; "" if it would be imported
    known: bool = False  # the address is a member already (its details would be updated)


@dataclass(frozen=True)
class Preview:
    encoding: str
    delimiter: str
    columns: list[str]  # the recognised columns, in the file's order
    ignored: list[str]  # header names that are not columns
    rows: list[PreviewRow]  # the first lines
    total: int  # data lines in the file
    problems: int  # lines the import would skip for their format or as duplicates


def preview(
    session: Session, raw: bytes, *, limit: int = PREVIEW_ROWS, max_bytes: int = MAX_BYTES
) -> Preview:
    """What an import of this file would read, without writing anything."""
    decoded = decode_file(raw, max_bytes=max_bytes)
    table = parse(decoded.text)
    shown: list[tuple[int, dict[str, str], dict[str, str] | str]] = []
    seen: set[str] = set()
    total = problems = 0
    for line, row in table.lines:
        checked = _check_line(row, seen)
        total += 1
        problems += isinstance(checked, str)
        if len(shown) < limit:
            shown.append((line, row, checked))
    addresses = [c["email"] for _line, _row, c in shown if not isinstance(c, str)]
    suppressed = outbox.suppressed(session, addresses)
    known = set(
        session.execute(select(col(Member.email)).where(col(Member.email).in_(addresses))).scalars()
    )
    preview_rows = []
    for line, row, checked in shown:
        if isinstance(checked, str):
            preview_rows.append(PreviewRow(line, row, checked))
        else:
            problem = _suppressed() if checked["email"] in suppressed else ""
            preview_rows.append(PreviewRow(line, row, problem, checked["email"] in known))
    return Preview(
        encoding=decoded.encoding,
        delimiter=_delimiter_name(table.delimiter),
        columns=[h for h in table.header if h in COLUMNS],
        ignored=[h for h in table.header if h and h not in COLUMNS],
        rows=preview_rows,
        total=total,
        problems=problems,
    )


def _upsert(
    session: Session,
    mailing_list: MailingList,
    rows: list[dict[str, str]],
    *,
    note: str,
    now: datetime,
    actor: str,
) -> int:
    """Add or update these members and subscribe them; returns how many were new.

    New rows go in as plain multi-row INSERTs: building an ORM object per row cost more than
    the database did (about half of a 94,809-line import).
    """
    addresses = [r["email"] for r in rows]
    known = {
        m.email: m
        for m in session.execute(select(Member).where(col(Member.email).in_(addresses))).scalars()
    }
    new = [data for data in rows if data["email"] not in known]
    for data in rows:
        member = known.get(data["email"])
        if member is not None:
            # Update details, but never resubscribe someone who left: their choice wins.
            for key in ("name", "organisation", "country", "sector"):
                if data[key]:
                    setattr(member, key, data[key])
    session.flush()
    if new:
        session.execute(
            insert(Member),
            [
                {
                    **data,
                    "search_text": member_search_text(
                        data["email"], data["name"], data["organisation"]
                    ),
                    "status": ACTIVE,
                    "nonce": new_nonce(),
                    "created_at": now,
                    "confirmed_at": now,
                }
                for data in new
            ],
        )
    assert mailing_list.id is not None
    members = session.execute(
        select(
            col(Member.id),
            col(Member.status),
            col(Subscription.id),
            col(Member.email),
            col(Member.language),
        )
        .outerjoin(
            Subscription,
            (col(Subscription.member_id) == col(Member.id))
            & (col(Subscription.list_id) == mailing_list.id),
        )
        .where(col(Member.email).in_(addresses))
    ).all()
    # Subscribe whoever is not yet on the list, unless they left or were erased.
    joining = [
        member_id
        for member_id, status, subscription, _email, _language in members
        if subscription is None and status not in ("unsubscribed", ERASED)
    ]
    webhooks.emit_each(
        session,
        "member.subscribed",
        [
            {
                "member_id": member_id,
                "email": email,
                "status": ACTIVE,
                "language": language,
                "lists": [mailing_list.slug],
                "source": "import",
            }
            for member_id, status, subscription, email, language in members
            if subscription is None and status not in ("unsubscribed", ERASED)
        ],
        now=now,
    )
    if joining:
        session.execute(
            insert(Subscription),
            [
                {
                    "member_id": member_id,
                    "list_id": mailing_list.id,
                    "status": SUB_ACTIVE,
                    "created_at": now,
                    "updated_at": now,
                }
                for member_id in joining
            ],
        )
        session.execute(
            insert(ConsentEvent),
            [
                {
                    "member_id": member_id,
                    "list_id": mailing_list.id,
                    "action": "imported",
                    "consent_version": "",
                    "consent_text": "",
                    # source holds 32 characters; a long actor is in the audit log anyway.
                    "source": f"import by {actor}"[:32],
                    "ip": "",
                    "user_agent": "",
                    "note": note,
                    "at": now,
                }
                for member_id in joining
            ],
        )
    return len(new)


def export_members(session: Session, list_slug: str) -> str:
    """The list's subscribers as CSV, every cell safe to open in a spreadsheet."""
    mailing_list = lists.by_slug(session, list_slug)
    stmt = (
        select(Member, Subscription)
        .join(Subscription, col(Subscription.member_id) == col(Member.id))
        .where(col(Subscription.list_id) == mailing_list.id, col(Member.status) != ERASED)
        .order_by(col(Member.id))
    )
    rows = session.execute(stmt).all()
    blocked = suppressions.of_addresses(session, [m.email for m, _sub in rows if m.email])
    ticked = consent.ticked_on_list(session, mailing_list.id or 0)
    return csv_text(
        [
            *COLUMNS,
            "status",
            "subscribed_at",
            "suppressed_at",
            "suppression",
            "consent_version",
            "consent_text",
        ],
        (
            _export_row(member, sub, blocked.get((member.email or "").strip().lower()))
            + ticked.get(member.id or 0, ("", ""))
            for member, sub in rows
        ),
    )


def _export_row(
    member: Member, sub: Subscription, suppressed: suppressions.Suppressed | None
) -> tuple[str, ...]:
    active = sub.status == SUB_ACTIVE
    return (
        member.email or "",
        member.name,
        member.organisation,
        member.country,
        member.sector,
        member.language,
        suppressed.state if suppressed is not None and active else sub.status,
        sub.created_at.isoformat(),
        suppressed.since.isoformat() if suppressed is not None else "",
        f"{suppressed.reason}: {suppressed.detail}".rstrip(": ") if suppressed is not None else "",
    )

"""The local catch-all behind ``capture://``: mail kept as .eml files for /admin/outbox."""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from mailer.message import CapturedMail

_NAME = re.compile(r"^\d{20}-\d+\.eml$")


@dataclass(frozen=True)
class CaughtMail:
    name: str
    to: str
    subject: str
    date: str

    @property
    def sent_at(self) -> datetime | None:
        """The Date header as a time (shown in the network's zone), None if unreadable."""
        try:
            return parsedate_to_datetime(self.date)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Part:
    """A part of a caught mail besides its text and HTML: the calendar file, an attachment."""

    index: int  # its place among the message's leaf parts (the download's address)
    filename: str
    content_type: str


def extra_parts(message: EmailMessage) -> list[Part]:
    """The parts staff can open or download: every leaf part but the bodies they read."""
    bodies = {id(message.get_body(preferencelist=(kind,))) for kind in ("plain", "html")}
    found = []
    for index, part in enumerate(leaf_parts(message)):
        if id(part) in bodies:
            continue
        content_type = part.get_content_type()
        default = "invite.ics" if content_type == "text/calendar" else f"part-{index}"
        found.append(Part(index, _safe_filename(part.get_filename() or default), content_type))
    return found


def leaf_parts(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.walk() if not part.is_multipart()]


def _safe_filename(name: str) -> str:
    """A file name fit for a Content-Disposition header: no path, no quotes, no line breaks."""
    cleaned = re.sub(r"[^\w .()-]", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return cleaned[:100] or "attachment"


class CaptureStore:
    """Writes each caught message to its own file; names sort by arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._counter = 0

    def store(self, mail: CapturedMail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns():020d}-{os.getpid()}{self._counter}.eml"
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(mail.data)
        tmp.replace(self.folder / name)  # whole files only: a reader never sees half a mail

    def names(self, limit: int = 200) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted((p.name for p in self.folder.iterdir() if _NAME.match(p.name)), reverse=True)[
            :limit
        ]

    def read(self, name: str) -> EmailMessage | None:
        if not _NAME.match(name):
            return None
        path = self.folder / name
        if not path.is_file():
            return None
        return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)

    def summaries(self, limit: int = 200) -> list[CaughtMail]:
        caught = []
        for name in self.names(limit):
            msg = self.read(name)
            if msg is not None:
                caught.append(
                    CaughtMail(
                        name,
                        str(msg.get("To", "")),
                        str(msg.get("Subject", "")),
                        str(msg.get("Date", "")),
                    )
                )
        return caught


# The links in mail that act on a member without signing in: confirm, manage, unsubscribe, RSVP.
_MEMBER_LINK = r"(/(?:confirm|manage|unsubscribe|events/\d+/rsvp)/)[A-Za-z0-9_.\-]+"
REMOVED = "link-removed"


def neutralise(text: str, base_url: str) -> str:
    """The mail with the token of every member link to this site replaced, so whoever reads
    caught mail sees where each link went but cannot follow it to act for the member."""
    pattern = re.escape(base_url) + _MEMBER_LINK
    return re.sub(pattern, lambda found: f"{base_url}{found.group(1)}{REMOVED}", text)

"""Campaign refs: the key a campaign that must exist only once is found by, built and read here.

- ``digest:{list id}:{period}``: one digest per list and period (a scheduled run, or a manual
  one named by its minute).
- ``event:{event id}:{kind}:{nonce}``: an event's invitations, updates and confirmations (many
  of a kind); ``event:{event id}:cancel``: its one cancellation.
- ``reminder:{event id}:{minutes}``: one reminder per event and offset. When the start moves,
  reminders already made are renamed ``...:moved{sequence}`` so the new time gets its own.
"""

from __future__ import annotations

import secrets

MOVED = ":moved"


def digest(list_id: int, period: str) -> str:
    return f"digest:{list_id}:{period}"


def event_mail(event_id: int | None, kind: str) -> str:
    return f"event:{event_id}:{kind}:{secrets.token_hex(4)}"


def event_cancellation(event_id: int | None) -> str:
    return f"event:{event_id}:cancel"


def reminder(event_id: int | None, minutes: int) -> str:
    return f"reminder:{event_id}:{minutes}"


def reminders_of(event_id: int | None) -> str:
    """The prefix every reminder of an event starts with (moved ones too)."""
    return f"reminder:{event_id}:"


def mails_of(event_id: int | None) -> tuple[str, str]:
    """The prefixes of every campaign of an event: its mails and its reminders."""
    return f"event:{event_id}:", reminders_of(event_id)


def is_moved(ref: str) -> bool:
    return MOVED in ref


def moved(ref: str, old_sequence: int) -> str:
    """A reminder's ref once its event's start changed (kept for its history)."""
    return f"{ref}{MOVED}{old_sequence}"

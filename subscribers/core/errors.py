"""The errors services raise; each edge translates them once: the web and the API in one table
(``subscribers.web.errors.ANSWERS``: a 4xx page or problem+json, or beside the form field with
``subscribers.web.refusals``), the CLI in one place (``subscribers.cli.support``: a line).

NewsletterError
  + InvalidInput     bad form field, CSV line, CLI option (the message is safe to show)
  + TokenError       forged, expired, wrong purpose, or no longer valid for the member
  + NotFound
  + Conflict         e.g. campaign already cancelled, event full
  + Throttled        too many attempts; try later
"""

from __future__ import annotations

from collections.abc import Sequence


class NewsletterError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidInput(NewsletterError):
    """A bad value; ``problems`` is this one and any found with it (a form sent empty is told
    about every missing field at once, not one per try)."""

    def __init__(
        self, message: str, *, field: str | None = None, others: Sequence[InvalidInput] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.problems: tuple[InvalidInput, ...] = (self, *others)

    @classmethod
    def all_of(cls, problems: Sequence[InvalidInput]) -> InvalidInput:
        """The first problem, carrying the rest (``problems`` must not be empty)."""
        first, *rest = problems
        return cls(str(first), field=first.field, others=rest)

    def renamed(self, **names: str) -> InvalidInput:
        """The same problems, a field named as the caller knows it (an API body's name for
        a service's argument)."""
        return InvalidInput.all_of(
            [InvalidInput(str(p), field=names.get(p.field or "", p.field)) for p in self.problems]
        )


class TokenError(NewsletterError):
    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class NotFound(NewsletterError):
    pass


class Conflict(NewsletterError):
    pass


class Throttled(NewsletterError):
    pass

"""The errors services raise; each edge translates them once (form message, 4xx page, CLI line).

NewsletterError
  + InvalidInput     bad form field, CSV line, CLI option (the message is safe to show)
  + TokenError       forged, expired, wrong purpose, or no longer valid for the member
  + NotFound
  + Conflict         e.g. campaign already cancelled, event full
  + Throttled        too many attempts; try later
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidInput(NewsletterError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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

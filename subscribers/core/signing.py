"""DKIM signing as configured in settings (off unless a key and selector are given)."""

from __future__ import annotations

from mailer.dkim import load_signer
from mailer.message import Address
from mailer.sender import Signer
from subscribers.core.settings import Settings, SettingsError


def signer_from_settings(settings: Settings) -> Signer | None:
    """The DKIM signer for the sender's domain, or None when DKIM is off."""
    if not settings.dkim_key_file or not settings.dkim_selector:
        return None
    domain = Address.parse(settings.mail_from).domain
    try:
        return load_signer(settings.dkim_key_file, settings.dkim_selector, domain).sign
    except (OSError, ValueError) as err:
        raise SettingsError(f"NEWSLETTER_DKIM_KEY_FILE: {err}") from None

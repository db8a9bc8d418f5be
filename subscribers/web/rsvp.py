"""Public RSVP pages: the link in an invitation leads to a page whose button POSTs the answer."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rsvp", __name__)

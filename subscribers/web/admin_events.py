"""Staff workspace — Events: create, edit, invite, answers.

Every view is wrapped in ``role_required``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_events", __name__, url_prefix="/admin")

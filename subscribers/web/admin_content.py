"""Staff workspace — News, announcements, lists and the campaign monitor.

Every view is wrapped in ``role_required``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_content", __name__, url_prefix="/admin")

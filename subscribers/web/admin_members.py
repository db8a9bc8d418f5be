"""Staff workspace — Members, imports and exports, the audit log.

Every view is wrapped in ``role_required``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_members", __name__, url_prefix="/admin")

"""The JSON API under /api/v1/: bearer tokens, problem+json errors, an OpenAPI 3.1 document.

Views parse JSON and call the same services as the web and the CLI; see core.operation. The
API's own messages (problem titles and details) are in English, for the developers who read
them; what a service says (an invalid address, a closed list) comes in its translated words.
"""

from __future__ import annotations

from flask import Flask, Response

from subscribers.api import (
    openapi,
    problems,
    v1_content,
    v1_events,
    v1_lists,
    v1_members,
    v1_webhooks,
)
from subscribers.api.core import bp

# Each module registers its operations on ``bp`` when imported: the API is what they register.
OPERATION_MODULES = (openapi, v1_content, v1_events, v1_lists, v1_members, v1_webhooks)


# A service's refusal (NotFound, InvalidInput...) is answered by the app's one handler, from the
# table the web pages use too (subscribers/web/errors.py): problem+json under /api/.
@bp.errorhandler(problems.ApiProblem)
def _problem(err: problems.ApiProblem) -> Response:
    return problems.from_problem(err)


def register(app: Flask, csrf: object) -> None:
    """Mount the API: no session, no CSRF (a bearer token is not sent by browsers on its own)."""
    csrf.exempt(bp)  # type: ignore[attr-defined]
    app.register_blueprint(bp)

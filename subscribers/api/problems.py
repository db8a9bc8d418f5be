"""RFC 9457 problem details: the one shape of every error under /api/, never HTML."""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from werkzeug.http import HTTP_STATUS_CODES

from subscribers.core.errors import InvalidInput, NewsletterError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/api/v1/problems/"


class ApiProblem(Exception):
    """Raised anywhere in an API request: answered as problem+json with this status."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        kind: str = "",
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind
        self.headers, self.errors = headers or {}, errors or []


def response(
    status: int,
    detail: str = "",
    *,
    kind: str = "",
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> Response:
    """A problem+json response; ``kind`` names the problem type (defaults to the status)."""
    title = HTTP_STATUS_CODES.get(status, "Error")
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or title.lower().replace(" ", "-").replace("'", "")),
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    result = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    result.headers.update(headers or {})
    return result


def from_problem(err: ApiProblem) -> Response:
    return response(err.status, err.detail, kind=err.kind, headers=err.headers, errors=err.errors)


def refusal(
    err: NewsletterError, status: int, *, kind: str = "", headers: dict[str, str] | None = None
) -> Response:
    """A service's refusal, with the service's own message (written to be shown); its status,
    kind and headers come from the one table of refusals (``subscribers.web.errors.ANSWERS``)."""
    errors = None
    if isinstance(err, InvalidInput):
        errors = [{"field": one.field or "", "message": str(one)} for one in err.problems]
    return response(status, str(err), kind=kind, headers=headers, errors=errors)


def wants_problem() -> bool:
    """Whether this request is the API's (its errors are problem+json)."""
    return request.path == "/api" or request.path.startswith("/api/")

"""What every API operation shares: bearer auth with a role, rate limit, JSON in and out.

``operation`` registers a view on the blueprint and records what it takes and answers
(``OPERATIONS``), which is where the OpenAPI document and the role-matrix test read from: a route
cannot exist without being documented.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, json, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from subscribers.admin import api_tokens
from subscribers.admin.staff import role_allows
from subscribers.api.problems import ApiProblem
from subscribers.core.db import transaction
from subscribers.core.errors import TokenError
from subscribers.core.models import ApiToken, Throttle
from subscribers.people import throttle
from subscribers.web.context import db, runtime

bp = Blueprint("api", __name__, url_prefix="/api")

RATE_LIMIT = 600  # requests per token per window (app.config["API_RATE_LIMIT"] overrides)
RATE_WINDOW = timedelta(minutes=1)
RULE_ARGUMENT = r"<(?:([a-z]+)(?:\([^)]*\))?:)?(\w+)>"


@dataclass(frozen=True)
class Operation:
    """One documented route: the OpenAPI document is generated from these."""

    method: str
    rule: str  # Flask rule under /api/v1, e.g. /members/<email>
    endpoint: str
    summary: str
    role: str | None  # None: public (the document itself)
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a pydantic model, or None for an empty answer
    status: int = 200
    errors: Sequence[int] = ()
    etag: bool = False  # answers ETag; an update requires If-Match
    paged: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return "/api/v1" + re.sub(RULE_ARGUMENT, r"{\2}", self.rule)


OPERATIONS: list[Operation] = []


@dataclass
class Call:
    """What a view gets: the token (its name is the audit actor), the body and the query."""

    token: ApiToken | None
    body: Any = None
    query: Any = None

    @property
    def actor(self) -> str:
        return f"api ({self.token.name})" if self.token else "api"


@dataclass
class Answer:
    """A view's result when it needs more than a body: a status, headers, an ETag."""

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    role: str | None,
    tag: str,
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view(call, **path_args)`` at /api/v1``rule`` for ``method``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(
            method=method,
            rule=rule,
            endpoint=view.__name__,
            summary=summary,
            role=role,
            tag=tag,
            **options,
        )
        OPERATIONS.append(op)

        @wraps(view)
        def handler(**kwargs: Any) -> Response:
            token = _authenticate() if op.role else None
            if token is not None and not role_allows(token.role, op.role or "viewer"):
                raise ApiProblem(403, f"This operation needs a token with the {op.role} role.")
            call = Call(token=token, body=_body(op), query=_query(op))
            try:
                result = view(call, **kwargs)
                db().commit()
            except BaseException:
                db().rollback()
                raise
            return _respond(op, result)

        handler.required_role = role  # type: ignore[attr-defined] - read by the role matrix
        handler.operation = op  # type: ignore[attr-defined]
        bp.add_url_rule("/v1" + rule, endpoint=op.endpoint, view_func=handler, methods=[method])
        return handler

    return decorator


# -- authentication and rate limit ----------------------------------------------------------


def _authenticate() -> ApiToken:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="newsletter"'}
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiProblem(
            401, "Send an API token: Authorization: Bearer <token>.", headers=challenge
        )
    rt = runtime()
    now = rt.clock()
    limit = int(current_app.config.get("API_RATE_LIMIT", RATE_LIMIT))
    # Its own transaction: the last use and the count stay recorded whatever the request does.
    with transaction(rt.new_session()) as session:
        try:
            token = api_tokens.authenticate(session, value.strip(), now=now)
        except TokenError as err:
            raise ApiProblem(401, str(err), headers=challenge) from None
        key = f"api-token:{token.id}"
        allowed = throttle.hit(session, key, limit=limit, window=RATE_WINDOW, now=now)
        if not allowed:
            start = session.execute(select(Throttle.window_start).where(Throttle.key == key))
            wait = RATE_WINDOW - (now - start.scalar_one())
            retry = str(max(1, math.ceil(wait.total_seconds())))
    if not allowed:
        raise ApiProblem(
            429,
            "Too many requests with this token; try again later.",
            headers={"Retry-After": retry},
        )
    g.api_token = token
    return token


# -- input ----------------------------------------------------------------------------------


def _errors(err: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(part) for part in one["loc"]), "message": one["msg"]}
        for one in err.errors(include_url=False, include_context=False, include_input=False)
    ]


def _body(op: Operation) -> Any:
    if op.body is None:
        return None
    if request.mimetype != "application/json":
        raise ApiProblem(415, "Send the body as application/json.")
    raw = request.get_data()
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise ApiProblem(400, "The body is not valid JSON.", kind="invalid-json") from None
    if not isinstance(data, dict):
        raise ApiProblem(422, "The body must be a JSON object.", kind="invalid-input")
    if b"\\u0000" in raw.lower():
        # As on the web (errors.refuse_nul_characters): no text holds NUL, and PostgreSQL
        # refuses it in any value, whichever field or look-up it would reach.
        raise ApiProblem(422, "The body contains a NUL character.", kind="invalid-input")
    try:
        return op.body.model_validate(data)
    except ValidationError as err:
        raise ApiProblem(
            422, "The body has invalid fields.", kind="invalid-input", errors=_errors(err)
        ) from None


def _query(op: Operation) -> Any:
    if op.query is None:
        return None
    try:
        return op.query.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise ApiProblem(
            400, "The query has invalid parameters.", kind="invalid-query", errors=_errors(err)
        ) from None


# -- output ---------------------------------------------------------------------------------


def _dump(body: Any) -> Any:
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json")
    if isinstance(body, list):
        return [_dump(item) for item in body]
    return body


def etag_of(body: Any) -> str:
    """A strong ETag of a resource's JSON representation."""
    raw = json.dumps(_dump(body), sort_keys=True).encode("utf-8")
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def require_match(current: Any) -> None:
    """Refuse an update unless If-Match names the version the client read (428 / 412)."""
    wanted = request.headers.get("If-Match")
    if wanted is None:
        raise ApiProblem(
            428,
            "Send If-Match with the ETag you read, so that no other change is overwritten.",
            kind="precondition-required",
        )
    tags = {tag.strip() for tag in wanted.split(",")}
    if "*" not in tags and etag_of(current) not in tags:
        raise ApiProblem(
            412,
            "The resource changed since you read it; read it again and retry.",
            kind="precondition-failed",
        )


def _respond(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    answer = result if isinstance(result, Answer) else Answer(body=result)
    status = answer.status or op.status
    if answer.body is None and status in (204, 202) and op.response is None:
        response = Response(status=status)
    else:
        response = Response(
            json.dumps(_dump(answer.body)), status=status, mimetype="application/json"
        )
        if op.etag:
            response.headers["ETag"] = etag_of(answer.body)
    response.headers.update(answer.headers)
    return response


# -- cursor pagination ----------------------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id to continue after (0 for the first page); 400 for a cursor we did not make."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        value = int(number)
        if prefix != "id" or value < 0 or value > 2**62:
            raise ValueError(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(
            400, "The cursor is not one this API gave.", kind="invalid-cursor"
        ) from None
    return value


def paged(stmt: Any, id_column: Any, query: Any, convert: Callable[[Any], Any]) -> Answer:
    """One page of a select, in id order after the cursor, with a Link to the next page.

    Keyset, not OFFSET: a page costs the same however deep, and rows added meanwhile neither
    repeat nor vanish between pages.
    """
    stmt = stmt.where(id_column > decode_cursor(query.cursor)).order_by(id_column)
    rows = list(db().execute(stmt.limit(query.limit + 1)).scalars())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(rows[-1].id) if more else None
    items = [convert(row) for row in rows]
    headers = {}
    if cursor:
        args = request.args.to_dict()
        args["cursor"] = cursor
        link = "&".join(f"{k}={_quote(v)}" for k, v in args.items())
        headers["Link"] = f'<{request.base_url}?{link}>; rel="next"'
    return Answer(body={"items": _dump(items), "next_cursor": cursor}, headers=headers)


def _quote(value: str) -> str:
    return quote(value, safe="")

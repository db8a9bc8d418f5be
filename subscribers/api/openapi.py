"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits: the models that check
a request are the document, with nothing written twice. Components are named after the models.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Response, json, render_template_string
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from subscribers.api import schemas
from subscribers.api.core import OPERATIONS, RULE_ARGUMENT, Call, Operation, bp, operation

REF = "#/components/schemas/{model}"
ERRORS_ALWAYS = (400, 401, 403, 405, 413, 415, 429, 500)


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Problem": schemas.Problem}
    for op in OPERATIONS:
        for model in (op.body, op.query, op.response):
            if isinstance(model, type) and issubclass(model, BaseModel):
                found[model.__name__] = model
    return list(found.values())


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    for converter, name in re.findall(RULE_ARGUMENT, op.rule):
        kind = {"type": "integer"} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": kind})
    if op.query is not None:
        schema = components[op.query.__name__]
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": {k: v for k, v in prop.items() if k != "description"},
                    "description": prop.get("description", ""),
                }
            )
    return params


# The headers a problem answer carries besides its body.
PROBLEM_HEADERS = {
    401: ("WWW-Authenticate", 'Bearer realm="newsletter"'),
    405: ("Allow", "The methods this address takes."),
    429: ("Retry-After", "Seconds to wait before the next request."),
}


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": f"{status} {HTTPStatus(status).phrase}: problem details (RFC 9457)",
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status in PROBLEM_HEADERS:
        name, description = PROBLEM_HEADERS[status]
        answer["headers"] = {name: {"schema": {"type": "string"}, "description": description}}
    return answer


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op, components),
    }
    if op.role:
        spec["security"] = [{"bearer": []}]
        spec["description"] = f"Needs a token with the {op.role} role (or higher)."
    else:
        spec["security"] = []
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
            },
        }
    answer: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if isinstance(op.response, dict):  # a schema written out (the document's own)
        answer["content"] = {"application/json": {"schema": op.response}}
    elif op.response is not None:
        answer["content"] = {
            "application/json": {"schema": {"$ref": REF.format(model=op.response.__name__)}}
        }
    headers: dict[str, Any] = {}
    if op.etag:
        headers["ETag"] = {"schema": {"type": "string"}, "description": "Send it back in If-Match."}
    if op.paged:
        headers["Link"] = {"schema": {"type": "string"}, "description": 'rel="next" page'}
    if headers:
        answer["headers"] = headers
    responses: dict[str, Any] = {str(op.status): answer}
    for status in sorted({*ERRORS_ALWAYS, *op.errors} if op.role else {405, 500}):
        responses[str(status)] = _problem(status)
    if op.etag and op.method == "PATCH":
        spec["parameters"].append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "The ETag you read; 428 without it, 412 if it changed since.",
            }
        )
    spec["responses"] = responses
    return spec


def document() -> dict[str, Any]:
    _, top = models_json_schema([(m, "validation") for m in _models()], ref_template=REF)
    components = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "network-newsletter API",
            "version": "1",
            "description": "Lists, members, news, announcements, events, bounces and webhooks. "
            "Errors are application/problem+json (RFC 9457); lists are paged with cursors "
            "and Link headers; updates need If-Match with the ETag read.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@operation(
    "GET", "/openapi.json", summary="This document", role=None, tag="meta",
    response={"type": "object", "required": ["openapi", "paths"]},
)  # fmt: skip
def openapi_json(_call: Call) -> Response:
    return Response(json.dumps(document()), mimetype="application/json")


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ info.title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#eef;padding:0 .2em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ccc;padding:.3em;text-align:left;vertical-align:top}</style>
</head><body><main>
<h1>{{ info.title }}</h1><p>{{ info.description }}</p>
<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>
(<code>newsletter tokens create NAME --role editor</code>).</p>
<table><thead><tr><th scope="col">Method</th><th scope="col">Path</th>
<th scope="col">What it does</th><th scope="col">Role</th></tr></thead><tbody>
{% for op in operations %}<tr><td><code>{{ op.method }}</code></td>
<td><code>{{ op.path }}</code></td><td>{{ op.summary }}</td><td>{{ op.role or "none" }}</td></tr>
{% endfor %}</tbody></table></main></body></html>
"""


@bp.get("/docs")
def docs() -> str:
    """A plain page listing every operation (no CDN, no script: the network may be closed)."""
    ops = sorted(OPERATIONS, key=lambda op: (op.tag, op.path, op.method))
    return render_template_string(DOCS_PAGE, info=document()["info"], operations=ops)

"""Security headers on every answer: what the browser may run, frame, send and keep."""

from __future__ import annotations

from flask import Flask, Response, request

# Scripts only from our own files (no inline script, no eval): injected markup cannot run.
# Styles may be inline (mail previews and a few attributes); images from anywhere, as the
# logos in lists' branding. The caught-mail view sets its own, stricter policy.
POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src * data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
    ]
)


def token_page() -> bool:
    """A page reached from a link in mail, whose address holds a member's token."""
    return "token" in (request.view_args or {})


def private_page() -> bool:
    """Pages nobody's browser or proxy should keep: the workspace and the member's own."""
    return request.path.startswith("/admin") or token_page()


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers["X-Content-Type-Options"] = "nosniff"
    # A token in the address must never travel in a Referer, not even to this site.
    headers["Referrer-Policy"] = "no-referrer" if token_page() else "same-origin"
    if private_page():
        headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(add_security_headers)

"""Staff workspace — API tokens and webhooks (admins only).

A token's value and a webhook's signing secret are shown once, on the page that answers their
creation, and never again. Each change is audited; the deliveries of every webhook are listed
with their attempts, and one that failed (or arrived) can be sent again.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from subscribers.admin import actions, api_tokens, webhooks
from subscribers.core.db import transaction
from subscribers.core.errors import Conflict
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm
from subscribers.web.forms_api import TokenForm, WebhookForm, event_choices
from subscribers.web.forms_staff import role_choices
from subscribers.web.refusals import showing_refusals
from subscribers.web.staff_actions import record, staff_actor

bp = Blueprint("admin_api", __name__, url_prefix="/admin")


def _tokens_page(form: TokenForm, *, secret: str = "") -> str:
    form.role.choices = role_choices()
    now = runtime().clock()
    rows = [(token, api_tokens.state(token, now)) for token in api_tokens.all_tokens(db())]
    return render_template(
        "admin/tokens.html",
        user=current_staff(),
        rows=rows,
        form=form,
        buttons=ButtonForm(),
        secret=secret,
    )


@bp.get("/tokens")
@role_required("admin")
def tokens() -> str:
    return _tokens_page(TokenForm(formdata=None))


@bp.post("/tokens")
@role_required("admin")
def token_create() -> str:
    form = TokenForm()
    form.role.choices = role_choices()
    if not form.validate_on_submit():
        return _tokens_page(form)
    rt = runtime()
    with showing_refusals(form, also={Conflict: "name"}) as attempt:
        expires = form.expires_at(rt.settings.timezone)
        with transaction(db()) as s:
            token, secret = api_tokens.create(
                s,
                form.name.data or "",
                form.role.data or "",
                now=rt.clock(),
                expires_at=expires,
                created_by=staff_actor(),
            )
            record(s, actions.token_created(token))
    if attempt.refused:
        return _tokens_page(form)
    return _tokens_page(TokenForm(formdata=None), secret=secret)


@bp.post("/tokens/<int:token_id>/revoke")
@role_required("admin")
def token_revoke(token_id: int) -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(db()) as s:
        token = next((t for t in api_tokens.all_tokens(s) if t.id == token_id), None)
        if token is None:
            abort(404)
        if api_tokens.revoke(s, token, now=runtime().clock()):
            record(s, actions.token_revoked(token))
    flash(_("The token %(name)s no longer works.", name=token.name))
    return redirect(url_for(".tokens"))


# -- webhooks -------------------------------------------------------------------------------


def _webhooks_page(form: WebhookForm, *, secret: str = "") -> str:
    form.events.choices = event_choices()
    rows = webhooks.deliveries(db(), limit=100)
    tries = webhooks.attempts(db(), [d.id for d, _m in rows if d.id is not None])
    return render_template(
        "admin/webhooks.html",
        user=current_staff(),
        endpoints=webhooks.endpoints(db()),
        rows=rows,
        tries=tries,
        form=form,
        buttons=ButtonForm(),
        secret=secret,
        allow_private=runtime().settings.webhook_allow_private,
    )


@bp.get("/webhooks")
@role_required("admin")
def webhooks_index() -> str:
    return _webhooks_page(WebhookForm(formdata=None))


@bp.post("/webhooks")
@role_required("admin")
def webhook_create() -> str:
    form = WebhookForm()
    form.events.choices = event_choices()
    if not form.validate_on_submit():
        return _webhooks_page(form)
    rt = runtime()
    with showing_refusals(form) as attempt, transaction(db()) as s:
        endpoint, secret = webhooks.add(
            s,
            form.url.data or "",
            form.events.data or [],
            now=rt.clock(),
            allow_private=rt.settings.webhook_allow_private,
            created_by=staff_actor(),
        )
        record(s, actions.webhook_added(endpoint))
    if attempt.refused:
        return _webhooks_page(form)
    return _webhooks_page(WebhookForm(formdata=None), secret=secret)


@bp.post("/webhooks/<int:webhook_id>/remove")
@role_required("admin")
def webhook_remove(webhook_id: int) -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(db()) as s:
        endpoint = webhooks.remove(s, webhook_id, now=runtime().clock())
        record(s, actions.webhook_removed(endpoint))
    flash(_("The webhook was removed; nothing more is sent to it."))
    return redirect(url_for(".webhooks_index"))


@bp.post("/webhook-deliveries/<int:delivery_id>/replay")
@role_required("admin")
def webhook_replay(delivery_id: int) -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)
    with showing_refusals() as attempt, transaction(db()) as s:
        webhooks.replay(s, delivery_id, now=runtime().clock())
        record(s, actions.webhook_replayed(delivery_id))
    if not attempt.refused:
        flash(_("Queued again; the worker sends it within a minute."))
    return redirect(url_for(".webhooks_index"))

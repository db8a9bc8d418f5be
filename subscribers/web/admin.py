"""Staff workspace (behind login and roles). Every view is wrapped in ``role_required``."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from mailer import outbox
from subscribers.admin import actions, staff
from subscribers.content import campaigns, digests, lists
from subscribers.core.capture import extra_parts, leaf_parts, neutralise
from subscribers.core.db import transaction
from subscribers.core.errors import Throttled
from subscribers.insight import dashboard, growth
from subscribers.people import confirmations
from subscribers.web import confirm_step
from subscribers.web.auth import current_staff, role_required, sign_in
from subscribers.web.context import client_ip, db, runtime
from subscribers.web.forms import ButtonForm, LoginForm
from subscribers.web.refusals import showing_refusals
from subscribers.web.staff_actions import record

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send staff to another site after login.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("admin.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | BaseResponse:
    form = LoginForm()
    if request.method == "POST" and form.validate_on_submit():
        rt = runtime()
        with showing_refusals(form, also={Throttled: ""}) as attempt, transaction(db()) as s:
            user = staff.authenticate(
                s,
                form.email.data or "",
                form.password.data or "",
                ip=client_ip(),
                now=rt.clock(),
            )
        if attempt.refused:
            return render_template("admin/login.html", form=form), 429
        if user is not None:
            session.clear()
            sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        form.form_errors.append(_("Wrong email or password."))
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout() -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)
    user = current_staff()
    if user is not None:
        with transaction(db()) as s:
            staff.sign_out(s, user)  # a copy of this cookie must not stay signed in
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@role_required("viewer")
def home() -> str:
    return render_template(
        "admin/home.html",
        user=current_staff(),
        lists=dashboard.list_counts(db()),
        campaigns=dashboard.latest_campaigns(db()),
        next_digests=digests.next_digests(db(), now=runtime().clock()),
        growth=growth.weekly(db(), now=runtime().clock(), timezone=runtime().settings.timezone),
        buttons=ButtonForm(),
    )


@bp.get("/outbox")
@role_required("editor")
def caught_mail() -> str:
    capture = runtime().capture
    return render_template(
        "admin/outbox.html",
        user=current_staff(),
        caught=capture.summaries() if capture else None,
        counts=outbox.counts(db()),
    )


def _caught(name: str) -> tuple[EmailMessage, Callable[[str], str]]:
    """The caught message and how to show its texts: with member links neutralised, unless it
    was sent to the reader's own address (their own sign-up, tried out)."""
    capture = runtime().capture
    message = capture.read(name) if capture else None
    if message is None:
        abort(404)
    user = current_staff()
    recipients = {address.lower() for _name, address in getaddresses([str(message["To"] or "")])}
    if user is not None and user.email in recipients:
        return message, str
    base_url = runtime().settings.base_url
    return message, lambda text: neutralise(text, base_url)


@bp.get("/outbox/<name>")
@role_required("editor")
def caught_message(name: str) -> str:
    message, shown = _caught(name)
    text_part = message.get_body(preferencelist=("plain",))
    return render_template(
        "admin/caught.html",
        user=current_staff(),
        name=name,
        headers=[(key, shown(str(value))) for key, value in message.items()],
        text=shown(str(text_part.get_content())) if text_part else "",
        parts=extra_parts(message),
    )


@bp.get("/outbox/<name>/parts/<int:index>")
@role_required("editor")
def caught_part(name: str, index: int) -> Response:
    """A caught mail's calendar file or attachment, as a download (never shown in the page:
    it is the sender's content). Text parts have their member links neutralised too."""
    message, shown = _caught(name)
    wanted = next((p for p in extra_parts(message) if p.index == index), None)
    if wanted is None:
        abort(404)
    part = leaf_parts(message)[index]
    payload = part.get_content()
    body = shown(payload).encode() if isinstance(payload, str) else bytes(payload)
    return Response(
        body,
        mimetype=wanted.content_type,
        headers={"Content-Disposition": f'attachment; filename="{wanted.filename}"'},
    )


@bp.get("/outbox/<name>/html")
@role_required("editor")
def caught_html(name: str) -> Response:
    message, shown = _caught(name)
    html_part = message.get_body(preferencelist=("html",))
    if html_part is None:
        abort(404)
    # Shown in a sandboxed frame: the mail's HTML can neither run scripts nor reach the session.
    # Links open in a new tab: inside the sandboxed frame a confirmation page could not post.
    html = shown(str(html_part.get_content())).replace("<head>", '<head><base target="_blank">', 1)
    return Response(
        html,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "sandbox allow-popups allow-popups-to-escape-sandbox; "
            "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
            "frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@bp.post("/lists/<slug>/digest")
@role_required("editor")
def send_digest_now(slug: str) -> str | BaseResponse:
    """Build and queue a list's digest now (the worker sends it within seconds)."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    rt = runtime()
    action = f"digest:{slug}"
    token = confirm_step.token()
    if token is None:
        mailing_list = lists.by_slug(db(), slug)
        question = confirm_step.send_now(campaigns.reach(db(), slug), mailing_list.name)
        back = url_for("admin.home")
        button = _("Send digest now")
        return confirm_step.page(action=action, question=question, button=button, back=back)
    with showing_refusals() as attempt, transaction(db()) as s:
        confirmations.spend(s, token, action, now=rt.clock())
        outcome = digests.create_digest(s, rt.kit, slug, now=rt.clock())
        record(s, actions.digest_sent(slug, outcome.describe()))
    if not attempt.refused:
        flash(digest_notice(outcome))
    return redirect(url_for("admin.home"))


def digest_notice(outcome: digests.DigestOutcome) -> str:
    """What staff read after "Send digest now" (the outcome's own describe() is for logs)."""
    if outcome.campaign_id is not None:
        items = ngettext("%(num)d item", "%(num)d items", outcome.items)
        return ngettext(
            "Digest queued for %(num)d member with %(items)s.",
            "Digest queued for %(num)d members with %(items)s.",
            outcome.recipients,
            items=items,
        )
    reasons = {
        "nothing queued": _("No digest: no news is queued for this list."),
        "no active members yet": _(
            "No digest: the list has no active members yet; the news stays queued."
        ),
        "already sent for this period": _("No digest: this period's digest was sent already."),
    }
    return reasons.get(outcome.reason, _("No digest was made."))

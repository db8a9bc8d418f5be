"""/api/v1/members: sign-up with double opt-in (or a trusted import), look-up, edit, erase."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from subscribers.admin import actions
from subscribers.api import schemas as s
from subscribers.api.core import Answer, Call, operation, paged, require_match
from subscribers.api.v1_lists import record
from subscribers.core.errors import InvalidInput
from subscribers.core.models import MailingList, Member, Subscription
from subscribers.core.validation import check_details, normalise_email
from subscribers.people import imports, members, preferences, registration
from subscribers.web.context import db, runtime

DETAILS = ("name", "organisation", "country", "sector", "language")


def member_out(member: Member) -> s.MemberOut:
    subscribed = [
        s.Subscribed(list=lst.slug, status=sub.status)
        for sub, lst in preferences.subscriptions(db(), member)
    ]
    values = {key: getattr(member, key) for key in s.MemberOut.model_fields if key != "lists"}
    return s.MemberOut(**values, lists=subscribed)


@operation(
    "POST", "/members", role="editor", tag="members", body=s.MemberCreate,
    response=s.MemberAccepted, status=202, errors=(404, 409, 422, 429),
    summary="Sign someone up: a confirmation mail, exactly as the public form sends "
    "(or, with import_with_consent, subscribed at once)",
)  # fmt: skip
def members_create(call: Call) -> s.MemberAccepted:
    body: s.MemberCreate = call.body
    rt = runtime()
    email = normalise_email(body.email, check_deliverability=rt.settings.check_deliverability)
    details = check_details({key: getattr(body, key) for key in DETAILS})
    if body.import_with_consent:
        imports.import_member(
            db(),
            body.lists,
            {"email": email, **details},
            consent_note=body.consent_note,
            now=rt.clock(),
            actor=call.actor,
        )
        record(call, actions.member_imported(body.lists))
        return s.MemberAccepted(status="imported", email=email)
    registration.register(
        db(),
        rt.kit,
        registration.RegistrationRequest(
            email=email,
            list_slugs=body.lists,
            consent=True,  # the calling site asked; the confirmation mail is the proof
            user_agent=request.user_agent.string[:300],
            source=f"api {call.token.name if call.token else ''}"[:32],
            **details,
        ),
        now=rt.clock(),
    )
    # The same answer for a new, pending or confirmed address: nothing to learn from it.
    return s.MemberAccepted(status="confirmation_sent", email=email)


@operation(
    "GET", "/members", summary="Members, by id", role="viewer", tag="members",
    query=s.MemberQuery, response=s.MemberPage, paged=True,
)  # fmt: skip
def members_index(call: Call) -> Answer:
    stmt = select(Member)
    if call.query.status:
        stmt = stmt.where(Member.status == call.query.status)
    if call.query.list:
        stmt = stmt.where(
            Member.id.in_(  # type: ignore[union-attr]
                select(Subscription.member_id)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(MailingList.slug == call.query.list)
            )
        )
    return paged(stmt, Member.id, call.query, member_out)


@operation(
    "GET", "/members/<ref>", summary="A member, by address or id", role="viewer",
    tag="members", response=s.MemberOut, errors=(404,), etag=True,
)  # fmt: skip
def members_show(call: Call, ref: str) -> s.MemberOut:
    return member_out(members.find(db(), ref))


@operation(
    "PATCH", "/members/<ref>", role="editor", tag="members", body=s.MemberPatch,
    response=s.MemberOut, errors=(404, 409, 412, 422, 428), etag=True,
    summary="Change a member's details, or take them off lists",
)  # fmt: skip
def members_edit(call: Call, ref: str) -> s.MemberOut:
    member = members.find(db(), ref)
    require_match(member_out(member))
    now = runtime().clock()
    given = call.body.model_dump(exclude_none=True)
    details = check_details({key: given[key] for key in DETAILS if key in given})
    members.update_details(db(), member, details, actor=call.actor, now=now)
    if call.body.lists is not None:
        _keep_lists(call, member, call.body.lists)
    return member_out(member)


def _keep_lists(call: Call, member: Member, slugs: list[str]) -> None:
    """Leave every list not in ``slugs``; joining needs the member's own consent."""
    current = {lst.slug: sub for sub, lst in preferences.subscriptions(db(), member)}
    active = {slug for slug, sub in current.items() if sub.status in ("active", "pending")}
    if set(slugs) - active:
        raise InvalidInput(
            "lists: a member joins a list only with their own consent (sign them up, or "
            "import with a consent note); not on: " + ", ".join(sorted(set(slugs) - active)),
            field="lists",
        )
    now = runtime().clock()
    for slug in sorted(active - set(slugs)):
        preferences.unsubscribe(db(), member, now=now, list_id=current[slug].list_id, source="api")
        record(call, actions.member_left_list(member.id, slug))


@operation(
    "POST", "/members/<ref>/unsubscribe", role="editor", tag="members",
    response=s.MemberOut, errors=(404, 409), summary="Unsubscribe from every list",
)  # fmt: skip
def members_unsubscribe(call: Call, ref: str) -> s.MemberOut:
    member = members.find(db(), ref)
    members.unsubscribe(db(), member, actor=call.actor, now=runtime().clock(), source="api")
    return member_out(member)


@operation(
    "DELETE", "/members/<ref>", role="editor", tag="members", status=204, errors=(404, 409),
    summary="Erase a member's personal data (the address stays suppressed, as a hash)",
)  # fmt: skip
def members_erase(call: Call, ref: str) -> Answer:
    member = members.find(db(), ref)
    members.erase(
        db(), runtime().kit, member, actor=call.actor, now=runtime().clock(), source="api"
    )
    return Answer(status=204)


@operation(
    "GET", "/members/<ref>/export", role="editor", tag="members", response=s.MemberExport,
    errors=(404,), summary="Everything held on a member (GDPR art. 15 and 20)",
)  # fmt: skip
def members_export(call: Call, ref: str) -> dict[str, object]:
    member = members.find(db(), ref)
    record(call, actions.member_exported(member.id))
    return preferences.export(db(), member)

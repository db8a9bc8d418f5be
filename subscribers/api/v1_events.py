"""/api/v1/events (create, invite, answers) and /bounces, /suppressions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.outbox import Suppression
from subscribers.admin import actions
from subscribers.api import schemas as s
from subscribers.api.core import Answer, Call, operation, paged
from subscribers.api.v1_lists import record
from subscribers.core import times
from subscribers.core.models import Event, MailingList
from subscribers.core.validation import normalise_email
from subscribers.invitations import events, rsvp
from subscribers.people import suppressions
from subscribers.people.audience import Segment
from subscribers.web.context import db, runtime


def event_out(event: Event) -> s.EventOut:
    mailing_list = db().get(MailingList, event.list_id)
    tz = ZoneInfo(event.timezone)
    return s.EventOut(
        id=event.id or 0,
        list=mailing_list.slug if mailing_list else "",
        title=event.title,
        description=event.description,
        start=event.start_at.astimezone(tz),
        end=event.end_at.astimezone(tz),
        timezone=event.timezone,
        location=event.location,
        capacity=event.capacity,
        rsvp_deadline=event.rsvp_deadline.astimezone(tz) if event.rsvp_deadline else None,
        status=event.status,
        answers=rsvp.counts(db(), event.id or 0),
    )


def _in_zone(when: datetime | None, zone: str, field: str) -> datetime | None:
    """A time without offset is in the event's zone, as in the form and on the command line."""
    return None if when is None else times.in_zone(when, zone, field=field)


@operation(
    "GET", "/events", summary="Events with their answer counts", role="viewer", tag="events",
    query=s.PageQuery, response=s.EventPage, paged=True,
)  # fmt: skip
def events_index(call: Call) -> Answer:
    return paged(select(Event), Event.id, call.query, event_out)


@operation(
    "POST", "/events", summary="Create an event (nobody is invited yet)", role="editor",
    tag="events", body=s.EventCreate, response=s.EventOut, status=201, errors=(404, 422),
)  # fmt: skip
def events_create(call: Call) -> s.EventOut:
    body: s.EventCreate = call.body
    rt = runtime()
    tz_name = body.timezone or rt.settings.timezone
    times.zone(tz_name)  # an unknown zone is refused first, by its name
    spec = events.EventSpec(
        list_slug=body.list,
        title=body.title,
        start=_in_zone(body.start, tz_name, "start") or body.start,
        end=_in_zone(body.end, tz_name, "end") or body.end,
        timezone=tz_name,
        description=body.description,
        location=body.location,
        online_url=body.online_url,
        capacity=body.capacity or None,
        rsvp_deadline=_in_zone(body.rsvp_deadline, tz_name, "rsvp_deadline"),
        reminders=events.parse_reminders(body.reminders)
        if body.reminders is not None
        else events.DEFAULT_REMINDERS,
    )
    event = events.create_event(db(), rt.kit, spec, now=rt.clock(), created_by=call.actor)
    record(call, actions.event_created(event))
    return event_out(event)


@operation(
    "GET", "/events/<int:event_id>", summary="One event", role="viewer", tag="events",
    response=s.EventOut, errors=(404,),
)  # fmt: skip
def events_show(call: Call, event_id: int) -> s.EventOut:
    return event_out(events.get(db(), event_id))


@operation(
    "POST", "/events/<int:event_id>/invite", role="editor", tag="events",
    body=s.InviteBody, response=s.Invited, errors=(404, 409, 422),
    summary="Invite the list's active members (or a segment) not invited yet",
)  # fmt: skip
def events_invite(call: Call, event_id: int) -> s.Invited:
    segment = Segment.parse(call.body.segment)
    rt = runtime()
    campaign, count = events.invite(
        db(), rt.kit, event_id, segment, now=rt.clock(), created_by=call.actor
    )
    if campaign is not None:
        record(call, actions.event_invited(event_id, count, segment))
    return s.Invited(campaign_id=campaign.id if campaign else None, invited=count)


@operation(
    "GET", "/events/<int:event_id>/rsvps", summary="Everyone invited, with their answer",
    role="viewer", tag="events", response=s.RsvpPage, errors=(404,),
)  # fmt: skip
def events_rsvps(call: Call, event_id: int) -> s.RsvpPage:
    events.get(db(), event_id)
    return s.RsvpPage(
        items=[
            s.RsvpOut(
                member_id=a.member.id or 0,
                email=a.member.email,
                name=a.member.name,
                answer=a.rsvp.status,
                answered_at=a.rsvp.answered_at,
                waiting_since=a.rsvp.waiting_since,
            )
            for a in rsvp.answers(db(), event_id)
        ]
    )


# -- bounces and suppressions ---------------------------------------------------------------


@operation(
    "GET", "/bounces", summary="Bounces received (addresses as hashes)", role="viewer",
    tag="bounces", query=s.PageQuery, response=s.BouncePage, paged=True,
)  # fmt: skip
def bounces_index(call: Call) -> Answer:
    return paged(
        select(Bounce), Bounce.id, call.query, lambda b: s.BounceOut.model_validate(b.model_dump())
    )


@operation(
    "GET", "/suppressions", role="viewer", tag="bounces", query=s.SuppressionQuery,
    response=s.SuppressionList, errors=(422,),
    summary="Suppressed addresses (as hashes); ?email= tells whether one address is",
)  # fmt: skip
def suppressions_index(call: Call) -> s.SuppressionList:
    stmt = select(Suppression).order_by(Suppression.created_at.desc()).limit(1000)  # type: ignore[attr-defined]
    if call.query.email is not None:
        key = outbox.address_hash(normalise_email(call.query.email))
        stmt = stmt.where(Suppression.address_hash == key)
    rows = db().execute(stmt).scalars()
    return s.SuppressionList(items=[s.SuppressionOut.model_validate(r.model_dump()) for r in rows])


@operation(
    "POST", "/suppressions/lift", role="admin", tag="bounces", body=s.SuppressionLift,
    response=s.Done, errors=(404, 422),
    summary="Let a suppressed address be mailed again, giving the reason (audited)",
)  # fmt: skip
def suppressions_lift(call: Call) -> s.Done:
    lifted = suppressions.lift_address(
        db(),
        normalise_email(call.body.email),
        actor=call.actor,
        now=runtime().clock(),
        reason=call.body.reason,
    )
    return s.Done(done=f"{lifted.reason} suppression lifted")

"""Campaigns to a list: render once, pick the audience, fan out into the outbox; then watch them.

Announcements, their preview and their test mail all go through ``_render``, so what staff
preview and test is exactly what members receive (only the personal values differ).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.compose import RenderedMail, personalise
from mailer.content import markdown_to_html, summary
from mailer.outbox import Campaign, Delivery, Recipient
from mailer.plaintext import markdown_to_plain
from subscribers.content import brakes, lists, multilingual
from subscribers.content.mails import MailKit, brand, list_campaign
from subscribers.content.multilingual import Text, Written
from subscribers.core.errors import Conflict, InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import Complaint, MailingList, StaffUser
from subscribers.core.validation import LANGUAGES, clean_text
from subscribers.people import audience
from subscribers.people.audience import STAFF_TEST, Segment

MAX_BODY = 200_000


@dataclass(frozen=True)
class Announcement:
    list_slug: str
    subject: str
    body_markdown: str
    segment: Segment = Segment()
    send_after: datetime | None = None
    created_by: str | None = None
    language: str | None = None  # of subject and body; the list's when None
    translations: tuple[Text, ...] = ()  # subject (as title) and body in other languages
    # Publish in the list's public archive: None leaves it to the audience (see in_archive).
    archive: bool | None = None

    @property
    def in_archive(self) -> bool:
        """Whether it goes on the public archive: staff's choice, else only a whole-list send.

        Mail to a segment was written for some members only (a Poland-only call), so it is
        not published unless staff ask for it.
        """
        return not self.segment if self.archive is None else self.archive


def _written(mailing_list: MailingList, announcement: Announcement) -> Written:
    """Check an announcement's original and translations; InvalidInput names what is wrong."""
    subject = clean_text(announcement.subject, field="subject", label=_("Subject"), limit=200)
    if not subject:
        raise InvalidInput(_("subject: must not be empty"), field="subject")
    body = announcement.body_markdown or ""
    if not body.strip() or len(body) > MAX_BODY:
        raise InvalidInput(
            _("body: must not be empty (and at most 200,000 characters)"), field="body"
        )
    language = multilingual.language_code(announcement.language or mailing_list.language)
    translations = {}
    for text in announcement.translations:
        try:
            checked = multilingual.checked(text, body_limit=MAX_BODY)
        except InvalidInput as err:  # which of the translations: name its language
            raise InvalidInput(
                _("%(language)s: %(problem)s", language=language_name(text.language), problem=err),
            ) from None  # no field: shown above the form, as the CLI prints it
        if checked.language == language:
            raise InvalidInput(
                _(
                    "%(language)s is the language of the subject and text; a translation must "
                    "be in another one.",
                    language=language_name(language),
                ),
                field="text_language",
            )
        translations[checked.language] = checked
    return Written(Text(language, subject, body.strip()), translations)


def language_name(code: str) -> str:
    """A language as its own speakers name it ("Polski"), or the code as given."""
    return LANGUAGES.get(code, code)


def _render(
    session: Session,
    kit: MailKit,
    announcement: Announcement,
    languages: list[str] | None = None,
) -> tuple[MailingList, list[RenderedMail]]:
    """Check an announcement and render it once per language (Jinja, premailer, text part).

    Without ``languages``: those of its audience and those it is written in, so that the
    archive holds every version staff wrote.
    """
    mailing_list = lists.by_slug(session, announcement.list_slug)
    written = _written(mailing_list, announcement)
    if languages is None:
        languages = audience.languages(session, mailing_list, announcement.segment)
        languages += written.languages

    def context(language_kit: MailKit) -> dict[str, Any]:
        reading = written.for_reader(language_kit.language)
        body = reading.text.body
        return {
            "brand": brand(mailing_list),
            "title": reading.text.title,
            "body_html": markdown_to_html(body, top_heading=2),  # under the <h1> title
            "body_text": markdown_to_plain(body),
            "teaser": summary(body),
            "text_language": reading.text.language,
            "untranslated_text": reading.untranslated,
            # The "view in your browser" link only where the archive shows it.
            "archived": announcement.in_archive,
        }

    return mailing_list, kit.render_each("announcement", languages, context)


def check_send_time(send_after: datetime | None, now: datetime) -> None:
    """A scheduled send must lie ahead (web, CLI and API alike); InvalidInput otherwise."""
    if send_after is not None and send_after <= now:
        raise InvalidInput(_("This time has passed; choose a later one."), field="send_after")


def create_announcement(
    session: Session, kit: MailKit, announcement: Announcement, *, now: datetime
) -> tuple[Campaign, int]:
    """Render an announcement once per language and queue it for the list's (segment's) members."""
    check_send_time(announcement.send_after, now)
    mailing_list, versions = _render(session, kit, announcement)
    campaign = list_campaign(
        session,
        kit,
        mailing_list,
        versions,
        now=now,
        send_after=announcement.send_after,
        created_by=announcement.created_by,
        in_archive=announcement.in_archive,
    )
    count = outbox.enqueue(
        session,
        campaign,
        audience.recipients(
            session,
            kit,
            mailing_list,
            announcement.segment,
            extra={"archive_url": kit.archive_url(mailing_list, campaign.id)},
        ),
        now=now,
    )
    return campaign, count


def written_languages(session: Session, announcement: Announcement) -> list[str]:
    """The languages an announcement is written in, its original's first (checked)."""
    mailing_list = lists.by_slug(session, announcement.list_slug)
    return _written(mailing_list, announcement).languages


def audience_size(session: Session, list_slug: str, segment: Segment | None = None) -> int:
    """How many members an announcement to this list and segment would be queued for now."""
    return audience.count(session, lists.by_slug(session, list_slug), segment or Segment())


def reach(session: Session, list_slug: str, segment: Segment | None = None) -> audience.Reach:
    """The confirmation page's figures for an announcement or a digest to this list."""
    return audience.reach(session, lists.by_slug(session, list_slug), segment or Segment())


def announcement_reach(
    session: Session, kit: MailKit, announcement: Announcement
) -> audience.Reach:
    """Check the announcement as ``create_announcement`` would, and say whom it would reach."""
    mailing_list, _rendered = _render(session, kit, announcement)
    return audience.reach(session, mailing_list, announcement.segment)


# -- preview and test mail ---------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """An announcement as one member of its audience will see it."""

    subject: str
    html: str
    text: str
    recipients: int
    sample_name: str | None  # None: nobody in the audience, neutral values were filled in
    language: str = "en"  # the version shown


def _sample(
    session: Session, kit: MailKit, mailing_list: MailingList, segment: Segment
) -> Recipient | None:
    # The first member the campaign would be queued for, with the same personal values.
    archive = {"archive_url": kit.link(f"/archive/{mailing_list.slug}")}
    return next(audience.recipients(session, kit, mailing_list, segment, extra=archive), None)


def neutral_values(kit: MailKit, mailing_list: MailingList, name: str) -> dict[str, str]:
    """Personal values for a preview or a test mail, leading to no member's pages."""
    # Links that lead nowhere harmful: a test mail must not carry a real member's
    # unsubscribe link into a staff inbox.
    return {
        "name": name,
        "manage_url": kit.link("/manage/test-mail"),
        "unsubscribe_url": kit.link("/unsubscribe/test-mail"),
        "archive_url": kit.link(f"/archive/{mailing_list.slug}"),
    }


def preview_announcement(
    session: Session, kit: MailKit, announcement: Announcement, language: str | None = None
) -> Preview:
    """Render as ``create_announcement`` does and personalise for a sample member.

    In ``language`` (as a member of that language reads it), else the original's.
    """
    wanted = (
        multilingual.language_code(language, field="lang")
        if language
        else written_languages(session, announcement)[0]
    )
    mailing_list, (rendered,) = _render(session, kit, announcement, [wanted])
    sample = _sample(session, kit, mailing_list, announcement.segment)
    values = dict(sample.personal) if sample else neutral_values(kit, mailing_list, "…")
    body = personalise(rendered, values)
    return Preview(
        subject=rendered.subject,
        html=body.html,
        text=body.text,
        recipients=audience.count(session, mailing_list, announcement.segment),
        sample_name=sample.personal.get("name") if sample else None,
        language=rendered.language,
    )


def send_test(
    session: Session, kit: MailKit, announcement: Announcement, *, to: StaffUser, now: datetime
) -> Campaign:
    """Queue the announcement to one staff user, as the sample member would get it.

    It goes through the outbox like every mail (kind ``test``, so the send-time check looks
    the recipient up among staff, not members); the subject says it is a test.
    """
    assert to.id is not None
    mailing_list, versions = _render(
        session, kit, announcement, [written_languages(session, announcement)[0]]
    )
    sample = _sample(session, kit, mailing_list, announcement.segment)
    name = sample.personal.get("name", "") if sample else to.email.split("@")[0]
    test = replace(versions[0], kind=STAFF_TEST, subject=f"[Test] {versions[0].subject}")
    campaign = list_campaign(
        session,
        kit,
        mailing_list,
        [test],
        now=now,
        created_by=announcement.created_by,
    )
    values = neutral_values(kit, mailing_list, name)
    outbox.enqueue(session, campaign, [Recipient(to.id, to.email, name, values)], now=now)
    return campaign


# -- watching and steering campaigns -----------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A campaign with its deliveries counted by state, and the bounces and complaints it drew."""

    campaign: Campaign
    counts: dict[str, int]
    bounced: int
    complained: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.counts[outbox.SENT] + self.counts[outbox.FAILED] + self.counts[outbox.SKIPPED]

    @property
    def percent(self) -> int:
        # Rounded down: 100 only once nothing is left to send.
        return 100 * self.done // self.total if self.total else 100

    @property
    def finished(self) -> bool:
        return self.done == self.total or self.campaign.status == outbox.CANCELLED

    def scheduled(self, now: datetime) -> bool:
        after = self.campaign.send_after
        return after is not None and after > now and not self.finished

    def as_json(self, now: datetime) -> dict[str, Any]:
        c = self.campaign
        return {
            "id": c.id,
            "kind": c.kind,
            "subject": c.subject,
            "status": c.status,
            "send_after": c.send_after.isoformat() if c.send_after else None,
            "scheduled": self.scheduled(now),
            "counts": {**self.counts, "bounced": self.bounced, "complained": self.complained},
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "finished": self.finished,
        }


def _bounces(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    return _distinct_addresses(session, Bounce, campaign_ids)


def _complaints(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    return _distinct_addresses(session, Complaint, campaign_ids)


def _distinct_addresses(
    session: Session, table: type[Bounce] | type[Complaint], campaign_ids: list[int]
) -> dict[int, int]:
    """Addresses per campaign in the bounce or complaint table (a repeat report counts once)."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(col(table.campaign_id), func.count(func.distinct(col(table.address_hash))))
        .where(col(table.campaign_id).in_(campaign_ids))
        .group_by(col(table.campaign_id))
    )
    return {cid: n for cid, n in rows}


def progress(session: Session, campaign_id: int) -> Progress:
    """One campaign's progress (read afresh: the sender changes it from elsewhere)."""
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:
        raise NotFound(_("no campaign %(id)s", id=campaign_id))
    counts = outbox.counts(session, campaign_id).get(campaign_id, dict.fromkeys(outbox.STATES, 0))
    return Progress(
        campaign,
        counts,
        _bounces(session, [campaign_id]).get(campaign_id, 0),
        _complaints(session, [campaign_id]).get(campaign_id, 0),
    )


def recent(session: Session, *, limit: int = 50, list_id: int | None = None) -> list[Progress]:
    """The latest campaigns, newest first, each with its progress."""
    stmt = select(Campaign).order_by(col(Campaign.id).desc()).limit(limit)
    if list_id is not None:
        stmt = stmt.where(col(Campaign.list_id) == list_id)
    return progress_of(session, list(session.execute(stmt).scalars()))


def progress_of(session: Session, campaigns: list[Campaign]) -> list[Progress]:
    """Each of these campaigns with its progress, bounces and complaints (a query each)."""
    ids = [c.id for c in campaigns if c.id is not None]
    counts = outbox.counts(session, campaign_ids=ids)
    bounced = _bounces(session, ids)
    complained = _complaints(session, ids)
    return [
        Progress(c, counts[c.id or 0], bounced.get(c.id or 0, 0), complained.get(c.id or 0, 0))
        for c in campaigns
    ]


def problems(session: Session, campaign_id: int, *, limit: int = 200) -> list[Delivery]:
    """Deliveries that failed for good, and those waiting to retry after an error."""
    stmt = (
        select(Delivery)
        .where(
            col(Delivery.campaign_id) == campaign_id,
            or_(
                col(Delivery.state) == outbox.FAILED,
                (col(Delivery.state) == outbox.QUEUED) & col(Delivery.last_error).is_not(None),
            ),
        )
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def set_status(session: Session, campaign_id: int, status: str) -> Campaign:
    """Pause, resume or cancel; NotFound for an unknown campaign, Conflict if not possible.

    A campaign with nothing left to send is not paused or cancelled: every row is sent,
    failed or skipped, and "cancelled" would take a sent announcement out of the archive.
    """
    if status in (outbox.PAUSED, outbox.CANCELLED):
        now = progress(session, campaign_id)  # NotFound for an unknown campaign
        if now.finished and now.campaign.status != outbox.CANCELLED:
            raise Conflict(
                _(
                    "Campaign %(id)s has nothing left to send: there is nothing to pause "
                    "or cancel.",
                    id=campaign_id,
                )
            )
    try:
        campaign = outbox.set_status(session, campaign_id, status)
        brakes.overridden_on_resume(session, campaign)
        return campaign
    except LookupError:
        raise NotFound(_("no campaign %(id)s", id=campaign_id)) from None
    except ValueError as err:
        if status not in (outbox.ACTIVE, outbox.PAUSED, outbox.CANCELLED):
            raise Conflict(str(err)) from None  # a caller's mistake, not a person's
        # The one refusal of a known status: pausing or resuming a cancelled campaign.
        if status == outbox.PAUSED:
            raise Conflict(
                _("campaign %(id)s is cancelled and cannot be paused", id=campaign_id)
            ) from None
        raise Conflict(
            _("campaign %(id)s is cancelled and cannot be resumed", id=campaign_id)
        ) from None

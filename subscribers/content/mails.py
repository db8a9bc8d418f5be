"""One small function per kind of mail: its context, its links, and its way into the outbox.

Services call these; nothing here sends. Each mail becomes a campaign with its deliveries in the
caller's transaction (DESIGN.md: every mail goes through the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from jinja2 import Environment
from sqlmodel import Session

from mailer import outbox
from mailer.compose import RenderedMail, render
from mailer.message import Address
from mailer.outbox import Campaign, Recipient
from subscribers.content import skeletons
from subscribers.content.templating import mail_environments, mail_language
from subscribers.core.models import DEFAULT_ACCENT, MailingList, Member
from subscribers.core.tokens import Signer
from subscribers.insight import clicks


class Addressee(Protocol):
    """What a mail to one member reads of them: a Member, or one a registration just inserted
    (subscribers.people.registration.NewMember)."""

    @property
    def id(self) -> int | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def display_name(self) -> str: ...


@dataclass(frozen=True)
class MailKit:
    """What every mail needs: templates, the public base URL, the token signer, the sender.

    A kit writes in one language (its environments carry that catalogue and its date formats);
    ``in_language`` gives the same kit in another.
    """

    html_env: Environment
    text_env: Environment
    base_url: str
    signer: Signer
    default_sender: str
    language: str = "en"

    @classmethod
    def build(cls, *, base_url: str, signer: Signer, default_sender: str) -> MailKit:
        html_env, text_env = mail_environments("en")
        return cls(html_env, text_env, base_url, signer, default_sender)

    def in_language(self, language: str | None) -> MailKit:
        """This kit writing in ``language`` (English when that catalogue does not exist)."""
        language = mail_language(language)
        if language == self.language:
            return self
        html_env, text_env = mail_environments(language)
        return replace(self, html_env=html_env, text_env=text_env, language=language)

    # -- links ----------------------------------------------------------------------------

    def link(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def confirm_url(self, member: Addressee) -> str:
        assert member.id is not None
        return self.link(f"/confirm/{self.signer.sign('confirm', member.id, member.nonce)}")

    def manage_url(self, member: Addressee) -> str:
        assert member.id is not None
        return self._manage_url(member.id, member.nonce)

    def unsubscribe_url(self, member: Member, list_id: int | None = None) -> str:
        assert member.id is not None
        return self._unsubscribe_url(member.id, member.nonce, list_id)

    def _manage_url(self, member_id: int, nonce: str) -> str:
        return self.link(f"/manage/{self.signer.sign('manage', member_id, nonce)}")

    def _unsubscribe_url(self, member_id: int, nonce: str, list_id: int | None) -> str:
        scope = str(list_id) if list_id is not None else ""
        return self.link(f"/unsubscribe/{self.signer.sign('unsubscribe', member_id, nonce, scope)}")

    def archive_url(self, mailing_list: MailingList, campaign_id: int | None) -> str:
        return self.link(f"/archive/{mailing_list.slug}/{campaign_id}")

    def member_links(self, member: Member, list_id: int | None = None) -> dict[str, str]:
        """The personal values every list mail carries."""
        assert member.id is not None
        return self.links_for(member.id, member.nonce, member.display_name, list_id)

    def links_for(
        self, member_id: int, nonce: str, display_name: str, list_id: int | None = None
    ) -> dict[str, str]:
        """``member_links`` from the member's columns (a fan-out streams rows, not objects)."""
        return {
            "name": display_name,
            "manage_url": self._manage_url(member_id, nonce),
            "unsubscribe_url": self._unsubscribe_url(member_id, nonce, list_id),
            # Behind ?r= of the click links (subscribers.insight.clicks), for distinct clickers.
            clicks.REF_FIELD: clicks.click_ref(self.signer, member_id),
        }

    # -- rendering ------------------------------------------------------------------------

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedMail:
        # sender_name: the header of mail sent for no list shows the name its From shows.
        full = {
            "base_url": self.base_url,
            "brand": None,
            "sender_name": self.network_name,
            **context,
        }
        return render(
            self.html_env,
            self.text_env,
            kind,
            full,
            base_url=self.base_url,
            language=self.language,
        )

    def render_each(
        self,
        kind: str,
        languages: Iterable[str | None],
        context: Callable[[MailKit], Mapping[str, Any]],
    ) -> list[RenderedMail]:
        """The mail once per language (each rendered once, whatever the audience's size).

        ``context`` builds the template's context for the kit of each language, so dates and
        phrases computed in Python are in that language too. The first language given is the
        campaign's own version; duplicates and unknown languages collapse.
        """
        wanted = list(dict.fromkeys(mail_language(code) for code in languages)) or ["en"]
        return [
            kit.render(kind, context(kit)) for kit in (self.in_language(code) for code in wanted)
        ]

    def sender_for(self, mailing_list: MailingList | None) -> str:
        """The From of a list's mail: its own address, else the network's, under its name.

        The name is the one the mail's header shows (``sender_name``), so a reader sees one
        name, not the list's in the mail and the network's in the From.
        """
        if mailing_list is None:
            return self.default_sender
        address = Address.parse(mailing_list.from_address or self.default_sender).email
        return Address(address, sender_name(mailing_list)).as_text()

    @property
    def network_name(self) -> str:
        """The name in the From of mail sent for no list (a registration's confirmation...)."""
        return _address_name(self.default_sender)


@lru_cache(maxsize=64)
def _address_name(address: str) -> str:
    # Parsed once: every transactional mail's cache key asks for it (skeletons.rendered).
    return Address.parse(address).name


def sender_name(mailing_list: MailingList) -> str:
    """The name a list's mail is signed with: the one in its From address, else its own."""
    if mailing_list.from_address:
        return Address.parse(mailing_list.from_address).name or mailing_list.name
    return mailing_list.name


def brand(mailing_list: MailingList | None) -> dict[str, Any] | None:
    """The list's look in mail: name, the name it signs with, accent colour, logo and footer."""
    if mailing_list is None:
        return None
    return {
        "name": mailing_list.name,
        "sender": sender_name(mailing_list),
        "accent": mailing_list.accent_color or DEFAULT_ACCENT,
        "logo_url": mailing_list.logo_url,
        "footer": mailing_list.footer,
    }


def list_id_header(mailing_list: MailingList, base_url: str) -> str:
    """``List-Id`` per RFC 2919: a description and a unique dotted identifier."""
    host = urlsplit(base_url).hostname or "localhost"
    name = mailing_list.name.replace('"', "'")
    return f'"{name}" <{mailing_list.slug}.{host}>'


def list_campaign(
    session: Session,
    kit: MailKit,
    mailing_list: MailingList,
    versions: Sequence[RenderedMail],
    *,
    now: datetime,
    **options: Any,
) -> Campaign:
    """A campaign sent in a list's name: its sender, reply-to and List-Id, in one place.

    ``versions`` are the mail in each language of the audience (``MailKit.render_each``), the
    campaign's own first. ``options`` are the rest of ``outbox.create_campaign``'s (ref,
    send_after, calendar...).
    """
    campaign = outbox.create_campaign(
        session,
        rendered=versions[0],
        translations=versions[1:],
        sender=kit.sender_for(mailing_list),
        now=now,
        list_id=mailing_list.id,
        list_header=list_id_header(mailing_list, kit.base_url),
        reply_to=mailing_list.reply_to,
        **options,
    )
    if campaign.kind in clicks.TRACKED_KINDS:
        # Its links lead through the click counter; rewritten once per language, not per member.
        clicks.track(session, campaign, versions, base_url=kit.base_url, signer=kit.signer, now=now)
    return campaign


def send_to_member(
    session: Session,
    kit: MailKit,
    kind: str,
    member: Addressee,
    *,
    now: datetime,
    context: Mapping[str, Any] | None = None,
    personal: Mapping[str, str] | None = None,
    by_name: bool = True,
) -> int:
    """Queue a transactional mail (confirmation, welcome...) to one member; its campaign's id.

    ``by_name=False`` leaves the name out of the greeting and the To header: for mail caused
    by a registration form, whose name anyone can type next to anyone's address.
    """
    assert member.id is not None and member.email is not None
    # The same for every member (personal values are markers): rendered once, then reused.
    rendered = skeletons.rendered(kit.in_language(member.language), kind, dict(context or {}))
    name = member.name if by_name else ""
    values = {
        "name": member.display_name if by_name else "",
        "manage_url": kit.manage_url(member),
        **(personal or {}),
    }
    recipient = Recipient(member.id, member.email, name, values, rendered.language)
    return outbox.create_single(
        session, rendered=rendered, sender=kit.default_sender, recipient=recipient, now=now
    )


def queue_confirmation(session: Session, kit: MailKit, member: Addressee, *, now: datetime) -> int:
    """The double opt-in mail with its one confirmation link."""
    return send_to_member(
        session,
        kit,
        "confirm",
        member,
        now=now,
        personal={"confirm_url": kit.confirm_url(member)},
        by_name=False,
    )


def queue_already_member(session: Session, kit: MailKit, member: Member, *, now: datetime) -> int:
    """Sent instead of a confirmation when a confirmed member registers again."""
    return send_to_member(session, kit, "already_member", member, now=now, by_name=False)


def queue_welcome(
    session: Session, kit: MailKit, member: Member, lists: Iterable[MailingList], *, now: datetime
) -> int:
    """A short welcome once confirmed, with the manage link."""
    names = [lst.name for lst in lists]
    return send_to_member(session, kit, "welcome", member, now=now, context={"lists": names})

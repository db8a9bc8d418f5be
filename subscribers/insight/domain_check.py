"""Is the sending domain ready for bulk mail? SPF, DKIM, DMARC, MX and alignment, looked up in DNS.

Gmail's and Yahoo's bulk-sender rules want mail that passes SPF or DKIM *aligned* with the From
domain and a DMARC record. Each check gives one ``Verdict``; when a record is missing or wrong the
verdict carries the record to publish. DMARC's relaxed alignment compares organisational domains
(the registrable domain under the Public Suffix List, shipped offline by ``publicsuffixlist``).
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT
from publicsuffixlist import PublicSuffixList

from mailer.dkim import load_signer
from mailer.message import Address
from subscribers.core.errors import InvalidInput, NewsletterError
from subscribers.core.settings import Settings

__all__ = [
    "DnsUnreachable",
    "Verdict",
    "check_domain",
    "parse_resolver",
]

_PSL = PublicSuffixList()
# Seconds to wait for the resolver in all: long enough for a distant server, short enough that a
# wrong --resolver gives its line soon.
LIFETIME = 5.0


class DnsUnreachable(NewsletterError):
    """The resolver did not answer: nothing can be said about the records."""


@dataclass(frozen=True)
class Verdict:
    record: str  # SPF, DKIM, DMARC, MX, alignment
    ok: bool
    detail: str
    publish: str | None = None  # the record to publish when missing or wrong

    def line(self) -> str:
        text = f"{self.record}: {'ok' if self.ok else 'FAIL'}: {self.detail}"
        return f"{text}\n  publish: {self.publish}" if self.publish else text


def parse_resolver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` as (ip, port); junk raises InvalidInput."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            raise InvalidInput(f"--resolver: write an IPv6 address as [IP]:PORT, not {text[:60]!r}")
        port = rest[1:] if rest else port
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput(f"--resolver: not an IP address: {text[:60]!r}") from None
    if not port.isdecimal() or not 0 < int(port) < 65536:
        raise InvalidInput(f"--resolver: not a port: {port[:20]!r}")
    return str(ip), int(port)


def org_domain(domain: str) -> str:
    """The organisational domain (RFC 7489 3.2): public suffix plus one label."""
    domain = domain.lower().rstrip(".")
    return _PSL.privatesuffix(domain) or domain


class _Dns:
    """TXT and MX lookups where "no such record" is an answer and silence is an error."""

    def __init__(self, resolver: tuple[str, int] | None, lifetime: float) -> None:
        self.resolver = dns.resolver.Resolver(configure=resolver is None)
        if resolver is not None:
            self.resolver.nameservers = [resolver[0]]
            self.resolver.port = resolver[1]
        self.resolver.lifetime = lifetime
        self.resolver.timeout = lifetime

    def _answer(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            return list(self.resolver.resolve(name, rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise DnsUnreachable(f"DNS: no answer from the resolver for {name} {rdtype}") from None
        except dns.resolver.NoNameservers as err:
            raise DnsUnreachable(f"DNS: resolver failed for {name} {rdtype}: {err}") from None
        except dns.exception.DNSException as err:
            raise DnsUnreachable(f"DNS: {name} {rdtype}: {err}") from None

    def txt(self, name: str) -> list[str]:
        # A TXT record may be split in strings of 255 bytes: they join without a separator.
        records = self._answer(name, "TXT")
        return [
            b"".join(r.strings).decode("utf-8", "replace") for r in records if isinstance(r, TXT)
        ]

    def mx(self, name: str) -> list[str]:
        records = self._answer(name, "MX")
        return [r.exchange.to_text(omit_final_dot=True) for r in records if isinstance(r, MX)]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def _check_spf(dns_: _Dns, domain: str) -> Verdict:
    publish = f'{domain}. TXT "v=spf1 mx ~all"  (add ip4:/include: for the SMTP relay you use)'
    spf = [t for t in dns_.txt(domain) if t.lower().startswith("v=spf1")]
    if not spf:
        return Verdict("SPF", False, f"no SPF record at {domain}", publish)
    if len(spf) > 1:
        return Verdict("SPF", False, f"{len(spf)} SPF records at {domain}; keep one", publish)
    if "+all" in spf[0].lower().split():
        return Verdict("SPF", False, f"{domain} allows any server (+all): {spf[0]}", publish)
    return Verdict("SPF", True, f"{domain}: {spf[0]}")


def _check_dkim(dns_: _Dns, settings: Settings, domain: str) -> tuple[Verdict, str | None]:
    """The DKIM verdict, and the d= domain the mail is signed with (None when DKIM is off)."""
    if not settings.dkim_key_file or not settings.dkim_selector:
        detail = "not configured (set NEWSLETTER_DKIM_KEY_FILE and NEWSLETTER_DKIM_SELECTOR)"
        return Verdict("DKIM", False, detail), None
    try:
        signer = load_signer(settings.dkim_key_file, settings.dkim_selector, domain)
    except (OSError, ValueError) as err:
        return Verdict("DKIM", False, f"NEWSLETTER_DKIM_KEY_FILE: {err}"), None
    name = f"{signer.selector}._domainkey.{signer.domain}"
    wanted = signer.dns_record()
    publish = f'{name}. TXT "{wanted}"'
    keys = [_tags(t) for t in dns_.txt(name)]
    keys = [k for k in keys if "p" in k]
    if not keys:
        return Verdict("DKIM", False, f"no DKIM key at {name}", publish), signer.domain
    wanted_p = _tags(wanted)["p"]
    if not any(_same_key(k["p"], wanted_p) for k in keys):
        detail = f"the key at {name} does not match the private key in NEWSLETTER_DKIM_KEY_FILE"
        return Verdict("DKIM", False, detail, publish), signer.domain
    return Verdict("DKIM", True, f"{name} matches the private key"), signer.domain


def _same_key(published: str, wanted: str) -> bool:
    try:
        return base64.b64decode(published, validate=True) == base64.b64decode(wanted)
    except ValueError:  # not base64 at all
        return False


def _check_dmarc(dns_: _Dns, domain: str) -> Verdict:
    publish = f'_dmarc.{domain}. TXT "v=DMARC1; p=none; rua=mailto:postmaster@{domain}"'
    # Receivers fall back to the organisational domain's policy (RFC 7489 6.6.3).
    for where in dict.fromkeys([domain, org_domain(domain)]):
        found = [t for t in dns_.txt(f"_dmarc.{where}") if t.upper().startswith("V=DMARC1")]
        if found:
            policy = _tags(found[0]).get("p", "").lower()
            if policy not in ("none", "quarantine", "reject"):
                detail = f"_dmarc.{where} has no valid p= policy: {found[0]}"
                return Verdict("DMARC", False, detail, publish)
            return Verdict("DMARC", True, f"_dmarc.{where}: p={policy}")
    return Verdict("DMARC", False, f"no DMARC record at _dmarc.{domain}", publish)


def _check_mx(dns_: _Dns, domains: list[str]) -> Verdict:
    # Replies go to the From domain and bounces to the envelope domain: both must take mail.
    missing = [d for d in domains if not dns_.mx(d)]
    if missing:
        publish = f"{missing[0]}. MX 10 <your mail server>"
        return Verdict("MX", False, f"no MX for {', '.join(missing)}", publish)
    return Verdict("MX", True, ", ".join(f"{d}: {', '.join(dns_.mx(d))}" for d in domains))


def _check_alignment(from_domain: str, envelope: str, dkim_domain: str | None) -> Verdict:
    org = org_domain(from_domain)
    wrong = [
        f"{what} {domain} is not under {org}"
        for what, domain in (("envelope", envelope), ("DKIM d=", dkim_domain))
        if domain is not None and org_domain(domain) != org
    ]
    if wrong:
        detail = "; ".join(wrong) + " (set NEWSLETTER_BOUNCE_ADDRESS to an address under it)"
        return Verdict("alignment", False, detail)
    signed = f", DKIM d={dkim_domain}" if dkim_domain else ""
    return Verdict("alignment", True, f"From {from_domain}, envelope {envelope}{signed}")


def check_domain(
    settings: Settings, *, resolver: tuple[str, int] | None = None, lifetime: float | None = None
) -> list[Verdict]:
    """One verdict per record for the sending domain; raises DnsUnreachable if DNS is silent."""
    from_domain = Address.parse(settings.mail_from).domain.lower()
    envelope = Address.parse(settings.bounce_address or settings.mail_from).domain.lower()
    dns_ = _Dns(resolver, lifetime or LIFETIME)
    dkim, dkim_domain = _check_dkim(dns_, settings, from_domain)
    return [
        # SPF is checked against the envelope sender's domain (RFC 7208 2.4).
        _check_spf(dns_, envelope),
        dkim,
        _check_dmarc(dns_, from_domain),
        _check_mx(dns_, list(dict.fromkeys([from_domain, envelope]))),
        _check_alignment(from_domain, envelope, dkim_domain),
    ]

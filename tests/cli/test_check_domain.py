"""`newsletter check-domain` against a DNS server on loopback with planted records."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer.dkim import load_signer
from subscribers.cli.root import main
from subscribers.insight import domain_check

Records = dict[tuple[str, str], list[str]]


class LoopbackDns:
    """A UDP DNS server in a thread answering from ``records`` ((name, type) -> rdata texts)."""

    def __init__(self) -> None:
        self.records: Records = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:  # closed by the fixture: the test is over
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            texts = self.records.get((name, dns.rdatatype.to_text(question.rdtype)), [])
            if texts:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", question.rdtype, texts)
                )
            elif not any(planted == name for planted, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


def txt(value: str) -> str:
    """TXT rdata text: strings of at most 255 bytes, quoted (a DKIM key needs several)."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def write_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    return path


@pytest.fixture
def dns_server(key_file: Path) -> Iterator[LoopbackDns]:
    """The loopback server with every record right; each test breaks one."""
    server = LoopbackDns()
    plant_good(server, key_file)
    yield server
    server.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return write_key(tmp_path / "dkim.pem")


@pytest.fixture
def env(tmp_path: Path, key_file: Path) -> dict[str, str]:
    return {
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_MAIL_FROM": "Network News <news@example.org>",
        "NEWSLETTER_BOUNCE_ADDRESS": "bounces@mail.example.org",
        "NEWSLETTER_DKIM_KEY_FILE": str(key_file),
        "NEWSLETTER_DKIM_SELECTOR": "nl2026",
    }


def plant_good(server: LoopbackDns, key_file: Path) -> None:
    """Everything right for From example.org, envelope mail.example.org, d=example.org."""
    dkim_record = load_signer(str(key_file), "nl2026", "example.org").dns_record()
    server.records.update(
        {
            ("mail.example.org", "TXT"): [txt("v=spf1 ip4:192.0.2.10 -all")],
            ("mail.example.org", "MX"): ["10 mx.example.org."],
            ("example.org", "MX"): ["10 mx.example.org."],
            ("example.org", "TXT"): [txt("google-site-verification=abc")],
            ("nl2026._domainkey.example.org", "TXT"): [txt(dkim_record)],
            ("_dmarc.example.org", "TXT"): [
                txt("v=DMARC1; p=quarantine; rua=mailto:d@example.org")
            ],
        }
    )


def run(server: LoopbackDns, env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, ["check-domain", "--resolver", server.address], env=env)


def failing(server: LoopbackDns, env: dict[str, str]) -> dict[str, str]:
    """The verdict lines of a run that must exit 1."""
    result = run(server, env)
    assert result.exit_code == 1, result.output
    return verdicts(result)


def verdicts(result: Result) -> dict[str, str]:
    """Verdict line by record name (SPF, DKIM, ...), with the publish hint that follows it."""
    lines: dict[str, str] = {}
    last = ""
    for line in result.output.splitlines():
        if line.startswith("  publish: "):
            lines[last] += "\n" + line
        else:
            last = line.split(":", 1)[0]
            lines[last] = line
    return lines


def test_all_good_exits_zero_with_one_ok_line_per_record(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    result = run(dns_server, env)
    assert result.exit_code == 0, result.output
    found = verdicts(result)
    assert set(found) == {"SPF", "DKIM", "DMARC", "MX", "alignment"}
    assert all(": ok: " in line and "publish" not in line for line in found.values()), found
    assert "v=spf1 ip4:192.0.2.10 -all" in found["SPF"]
    assert "p=quarantine" in found["DMARC"]


def test_spf_missing(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    del dns_server.records[("mail.example.org", "TXT")]
    found = failing(dns_server, env)
    assert found["SPF"].startswith("SPF: FAIL: no SPF record at mail.example.org")
    assert 'publish: mail.example.org. TXT "v=spf1' in found["SPF"]
    assert ": ok: " in found["DKIM"] and ": ok: " in found["DMARC"]


def test_dkim_missing_prints_the_record_to_publish(dns_server, env, key_file) -> None:  # type: ignore[no-untyped-def]
    del dns_server.records[("nl2026._domainkey.example.org", "TXT")]
    found = failing(dns_server, env)
    assert "FAIL: no DKIM key at nl2026._domainkey.example.org" in found["DKIM"]
    wanted = load_signer(str(key_file), "nl2026", "example.org").dns_record()
    assert f'publish: nl2026._domainkey.example.org. TXT "{wanted}"' in found["DKIM"]


def test_dkim_wrong_key(dns_server, env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = load_signer(str(write_key(tmp_path / "old.pem")), "nl2026", "example.org")
    dns_server.records[("nl2026._domainkey.example.org", "TXT")] = [txt(other.dns_record())]
    found = failing(dns_server, env)
    assert "FAIL: the key at nl2026._domainkey.example.org does not match" in found["DKIM"]
    assert "publish: nl2026._domainkey.example.org." in found["DKIM"]
    assert other.dns_record() not in found["DKIM"]


def test_dmarc_missing(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    del dns_server.records[("_dmarc.example.org", "TXT")]
    found = failing(dns_server, env)
    assert "DMARC: FAIL: no DMARC record at _dmarc.example.org" in found["DMARC"]
    assert 'publish: _dmarc.example.org. TXT "v=DMARC1; p=none' in found["DMARC"]


def test_dmarc_of_the_organisational_domain_covers_a_subdomain(dns_server, env, key_file) -> None:  # type: ignore[no-untyped-def]
    env["NEWSLETTER_MAIL_FROM"] = "news@lists.example.org"
    signer = load_signer(str(key_file), "nl2026", "lists.example.org")
    dns_server.records[("nl2026._domainkey.lists.example.org", "TXT")] = [txt(signer.dns_record())]
    dns_server.records[("lists.example.org", "MX")] = ["10 mx.example.org."]
    result = run(dns_server, env)
    assert result.exit_code == 0, result.output
    assert "_dmarc.example.org: p=quarantine" in verdicts(result)["DMARC"]


def test_misaligned_envelope(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    env["NEWSLETTER_BOUNCE_ADDRESS"] = "bounces@esp-bounces.example.net"
    dns_server.records[("esp-bounces.example.net", "TXT")] = [txt("v=spf1 -all")]
    dns_server.records[("esp-bounces.example.net", "MX")] = ["10 mx.example.net."]
    found = failing(dns_server, env)
    assert found["alignment"].startswith("alignment: FAIL: envelope esp-bounces.example.net")
    assert "not under example.org" in found["alignment"]
    assert ": ok: " in found["SPF"] and ": ok: " in found["MX"]


def test_misaligned_dkim_domain_is_reported() -> None:
    verdict = domain_check._check_alignment("example.org", "mail.example.org", "example.net")
    assert not verdict.ok
    assert "DKIM d= example.net is not under example.org" in verdict.detail


def test_no_mx(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    del dns_server.records[("mail.example.org", "MX")]
    found = failing(dns_server, env)
    assert found["MX"].startswith("MX: FAIL: no MX for mail.example.org")
    assert "publish: mail.example.org. MX 10" in found["MX"]


def test_dkim_not_configured_fails_its_line(dns_server, env) -> None:  # type: ignore[no-untyped-def]
    del env["NEWSLETTER_DKIM_KEY_FILE"], env["NEWSLETTER_DKIM_SELECTOR"]
    assert "DKIM: FAIL: not configured" in failing(dns_server, env)["DKIM"]


def test_silent_resolver_gives_one_clear_line(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(domain_check, "LIFETIME", 0.3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives, never answers
        port = silent.getsockname()[1]
        result = CliRunner().invoke(
            main, ["check-domain", "--resolver", f"127.0.0.1:{port}"], env=env
        )
    assert result.exit_code == 1
    assert result.stdout == ""  # no verdict is printed when nothing could be looked up
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: DNS: no answer from the resolver for ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "junk",
    [
        "junk",
        "",
        "300.1.1.1",
        "127.0.0.1:0",
        "127.0.0.1:99999",
        "127.0.0.1:\u00b2",
        "[::1",
        "[::1]x",
        "[::1]:",
    ],
)
def test_junk_resolver_is_refused_in_one_line(env, junk) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["check-domain", "--resolver", junk], env=env)
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--resolver" in result.stderr


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_parse_resolver(text, parsed) -> None:  # type: ignore[no-untyped-def]
    assert domain_check.parse_resolver(text) == parsed

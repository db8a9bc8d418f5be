"""The bounce loop behind a real Postfix, deployed exactly as the README says.

A private Postfix instance (its own main.cf, master.cf, queue and data directories in a temp
dir; smtpd on a free loopback port; no DNS) relays members' mail to a loopback SMTP server that
refuses some addresses. Postfix bounces those to the VERP address, and the README's pipe
transport hands each bounce to ``newsletter bounces process``: the test checks delivered mail
verifies with DKIM, bounces suppress within seconds, none is left deferred or bounced back, the
``mailto:`` unsubscribe works, and a database outage makes Postfix defer the bounce and deliver
it once the database is back.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailer import outbox
from mailer.clock import FrozenClock
from mailer.transport import SmtpTransport
from subscribers.content import campaigns
from subscribers.content.campaigns import Announcement
from subscribers.core.db import make_engine, metadata, transaction
from subscribers.core.models import Member
from subscribers.core.settings import load
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

README = Path(__file__).resolve().parents[2] / "README.md"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
PIPE_USER = "nobody"
CHECKOUT = Path(__file__).resolve().parents[2]
NEWSLETTER = Path(sys.executable).with_name("newsletter")
BOUNCE_DOMAIN = "bounces.network.example.org"
SELECTOR = "news2026"
# Seconds at most for anything Postfix does; each wait polls and returns early. Generous: a bounce
# starts a Python process through the pipe, which took over 10 s on a machine at load 20.
WAIT = 30.0

T = TypeVar("T")


# Postfix never runs a pipe as root. When the venv's interpreter is private to root (pyenv
# under /root), the pipe runs the same installed app through the system's Python of the same
# version instead: a launcher in the test's directory, standing in for .venv/bin/newsletter.
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
LAUNCHER = """#!{python}
import site
import sys

site.addsitedir({site!r})
from subscribers.cli.root import main

sys.exit(main())
"""


def _runs_as_pipe_user(*command: str) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", PIPE_USER, "--", *command, "--help"],
        capture_output=True,
        check=False,
        cwd="/",
        timeout=60,
    )
    return probe.returncode == 0


def _unavailable() -> str | None:
    if not Path(POSTFIX).exists() or not Path("/usr/lib/postfix/sbin/master").exists():
        return "Postfix is not installed (Debian: apt-get install postfix)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its daemons switch to the postfix user)"
    try:
        pwd.getpwnam("postfix"), pwd.getpwnam(PIPE_USER)
    except KeyError:
        return f"the users postfix and {PIPE_USER} are needed"
    if _runs_as_pipe_user(str(NEWSLETTER)) or SYSTEM_PYTHON.exists():
        return None
    return f"{PIPE_USER} can run neither {NEWSLETTER} nor {SYSTEM_PYTHON} (the pipe's user)"


CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def _checkout_reachable_by_pipe_user() -> Iterator[None]:
    """Let the pipe's user walk down to the checkout and its .venv for this test, then undo it.

    A clone made in `mktemp -d` sits below a directory only root may enter (mode 0700), and
    the pipe, which Postfix never runs as root, could then not read the installed app: every
    bounce would fail. Only the search bit (o+x) is added, on the parents that lack it, and
    each mode is put back afterwards.
    """
    changed: list[tuple[Path, int]] = []
    try:
        for parent in [CHECKOUT, *CHECKOUT.parents]:
            mode = parent.stat().st_mode & 0o7777
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
                changed.append((parent, mode))
        yield
    finally:
        for parent, mode in reversed(changed):
            parent.chmod(mode)


def _pipe_command(root: Path) -> str:
    """The app's command as the pipe's user can run it (see LAUNCHER)."""
    if _runs_as_pipe_user(str(NEWSLETTER)):
        return str(NEWSLETTER)
    launcher = root / "newsletter"
    site_dir = Path(sys.executable).parent.parent / "lib" / SYSTEM_PYTHON.name / "site-packages"
    launcher.write_text(LAUNCHER.format(python=SYSTEM_PYTHON, site=str(site_dir)))
    launcher.chmod(0o755)
    return str(launcher)


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def readme_block(first_line: str) -> str:
    """The fenced block of README.md that starts with ``first_line``, as written."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), re.S):
        if block.startswith(first_line + "\n"):
            return block
    raise AssertionError(f"README.md has no block starting {first_line!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], T]) -> T:
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT:.0f} s: {what}")
        time.sleep(0.05)


@dataclass
class PrivatePostfix:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "etc"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*args], capture_output=True, text=True, check=False, timeout=30)
        assert not check or done.returncode == 0, f"{args}: {done.stderr or done.stdout}"
        return done

    def queue(self) -> list[dict[str, object]]:
        done = self.run("postqueue", "-c", str(self.config), "-j", check=False)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        self.run("postqueue", "-c", str(self.config), "-f")

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.network.example.org
mydomain = network.example.org
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
"""
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def _deploy_readme(text: str, root: Path, command: str) -> str:
    """The README's lines with its example paths and user replaced by this test's."""
    return (
        text.replace("/srv/newsletter/.venv/bin/newsletter", command)
        .replace("/srv/newsletter", str(root / "app"))
        .replace("/etc/newsletter/env", str(root / "env"))
        .replace("user=newsletter", f"user={PIPE_USER}")
    )


@pytest.fixture
def postfix(smtp: ScriptedSMTP, _checkout_reachable_by_pipe_user: None) -> Iterator[PrivatePostfix]:
    # Not under pytest's tmp dir: its parents are private to root, and the pipe runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
    root.chmod(0o755)
    instance = PrivatePostfix(root, _free_port())
    try:
        instance.config.mkdir()
        # Postfix makes the queue's subdirectories itself; the two tops must exist, the data
        # directory owned by its mail_owner.
        (root / "queue").mkdir()
        (root / "data").mkdir(mode=0o700)
        os.chown(root / "data", pwd.getpwnam("postfix").pw_uid, -1)
        main_cf = MAIN_CF.format(root=root, sink=smtp.port)
        command = _pipe_command(root)
        main_cf += _deploy_readme(readme_block("# /etc/postfix/main.cf"), root, command)
        master_cf = MASTER_CF.format(port=instance.port)
        master_cf += _deploy_readme(readme_block("# /etc/postfix/master.cf"), root, command)
        (instance.config / "main.cf").write_text(main_cf)
        (instance.config / "master.cf").write_text(master_cf)
        instance.run(POSTFIX, "-c", str(instance.config), "start")
        wait_until("Postfix listening", lambda: _accepts(instance.port))
        yield instance
    finally:
        instance.run(POSTFIX, "-c", str(instance.config), "stop", check=False)
        _wait_stopped(root / "queue" / "pid" / "master.pid")
        shutil.rmtree(root, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_stopped(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, 9)  # the master we started, by its own pid file


@dataclass
class App:
    rt: Runtime
    db: Path
    public_key: bytes


@pytest.fixture
def app(postfix: PrivatePostfix) -> Iterator[App]:
    """The app's settings in the README's settings file, which the pipe reads too."""
    root = postfix.root
    (root / "app").mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = root / "app" / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    db = root / "app" / "newsletter.db"
    env = {
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{db}",
        "NEWSLETTER_SECRET_KEY": "postfix-test-secret-key-0123456789",
        "NEWSLETTER_BASE_URL": "https://news.network.example.org",
        "NEWSLETTER_MAIL_FROM": "Frontline Network <news@network.example.org>",
        "NEWSLETTER_BOUNCE_ADDRESS": f"bounces+{{token}}@{BOUNCE_DOMAIN}",
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{postfix.port}",
        "NEWSLETTER_DKIM_KEY_FILE": str(key_file),
        "NEWSLETTER_DKIM_SELECTOR": SELECTOR,
        "NEWSLETTER_INSTANCE_PATH": str(root / "app" / "instance"),
    }
    (root / "env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    settings = load(env, dotenv=None)
    engine = make_engine(settings.database_url)
    metadata.create_all(engine)
    (root / "app" / "instance").mkdir()
    # The pipe runs as that user: it owns the app's data (README: "which user owns what").
    user = pwd.getpwnam(PIPE_USER)
    for path in [root / "app", *(root / "app").iterdir(), root / "env"]:
        os.chown(path, user.pw_uid, user.pw_gid)
    (root / "env").chmod(0o600)
    transport = SmtpTransport("127.0.0.1", postfix.port, connections=1, timeout=5)
    rt = Runtime.build(settings, clock=FrozenClock(), transport=transport, engine=engine)
    try:
        yield App(rt, db, public)
    finally:
        transport.close()
        engine.dispose()


def _announce(app: App, *addresses: str) -> None:
    rt = app.rt
    with rt.new_session() as session:
        lst = make_list(session, rt.clock())
        for address in addresses:
            make_member(session, rt.clock(), lists_=(lst,), email=address, name=address[:3])
    with transaction(rt.new_session()) as session:
        campaigns.create_announcement(
            session,
            rt.kit,
            Announcement("practitioners", "Second workshop", "We meet on 6 November."),
            now=rt.clock(),
        )
    report = rt.sender.drain()
    assert report.sent == len(addresses), report.describe()


def _suppressed(app: App, address: str) -> bool:
    with app.rt.new_session() as session:
        return bool(outbox.suppressed(session, [address]))


def _status(app: App, address: str) -> str:
    with app.rt.new_session() as session:
        member = session.execute(select(Member).where(Member.email == address)).scalar_one()
        return member.status


def _pipe_results(postfix: PrivatePostfix) -> list[str]:
    return re.findall(r"relay=newsletter-bounces.*?status=(\w+)", postfix.log())


def test_bounces_reach_the_app_through_the_readme_recipe(
    postfix: PrivatePostfix, app: App, smtp: ScriptedSMTP
) -> None:
    smtp.reject_recipient(
        "ghost@members.example.org", 550, "5.1.1 <ghost@members.example.org>: User unknown"
    )
    _announce(app, "ana@members.example.org", "ghost@members.example.org", "bo@members.example.org")

    delivered = smtp.wait_for(2, timeout=WAIT)
    assert sorted(r for m in delivered for r in m.rcpt_tos) == [
        "ana@members.example.org",
        "bo@members.example.org",
    ]
    dns = {f"{SELECTOR}._domainkey.network.example.org.".encode(): app.public_key}
    for message in delivered:
        assert dkim.verify(message.data, dnsfunc=lambda name, timeout=5: _txt(dns, name))

    wait_until(
        "the hard bounce suppresses ghost", lambda: _suppressed(app, "ghost@members.example.org")
    )
    wait_until("Postfix logs the pipe delivery", lambda: _pipe_results(postfix))
    assert set(_pipe_results(postfix)) == {"sent"}
    wait_until("an empty queue", lambda: postfix.queue() == [])

    # The List-Unsubscribe mailto: target, as a mail client sends it.
    [to_ana] = [m for m in delivered if m.rcpt_tos == ["ana@members.example.org"]]
    mailto = re.search(
        r"<mailto:([^?>]+)\?subject=unsubscribe>", str(to_ana.message["List-Unsubscribe"])
    )
    assert mailto and mailto.group(1).endswith("@" + BOUNCE_DOMAIN)
    request = EmailMessage()
    request["From"], request["To"], request["Subject"] = (
        "ana@members.example.org",
        mailto.group(1),
        "unsubscribe",
    )
    request.set_content("unsubscribe")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=5) as client:
        client.send_message(request)
    wait_until(
        "ana unsubscribed by mail",
        lambda: _status(app, "ana@members.example.org") == "unsubscribed",
    )
    assert _status(app, "bo@members.example.org") == "active"
    wait_until("an empty queue", lambda: postfix.queue() == [])
    assert set(_pipe_results(postfix)) == {"sent"}


def _txt(records: dict[bytes, bytes], name: bytes) -> bytes | None:
    import base64

    key = records.get(name)
    return None if key is None else b"v=DKIM1; k=rsa; p=" + base64.b64encode(key)


def test_a_database_outage_defers_the_bounce_until_it_is_back(
    postfix: PrivatePostfix, app: App, smtp: ScriptedSMTP
) -> None:
    smtp.reject_recipient("carla@members.example.org", 550, "5.1.1 User unknown")
    app.db.chmod(0)  # the pipe's user can no longer open the database
    try:
        _announce(app, "carla@members.example.org")
        deferred = wait_until(
            "the bounce deferred by Postfix",
            lambda: [m for m in postfix.queue() if m.get("queue_name") == "deferred"],
        )
        reasons = " ".join(
            str(r.get("delay_reason", "")) for m in deferred for r in m["recipients"]
        )  # type: ignore[union-attr]
        assert "temporary failure" in reasons, reasons
        assert not _suppressed(app, "carla@members.example.org")
    finally:
        app.db.chmod(0o600)
    postfix.flush()
    wait_until(
        "the deferred bounce delivered", lambda: _suppressed(app, "carla@members.example.org")
    )
    wait_until("an empty queue", lambda: postfix.queue() == [])
    assert "bounced" not in _pipe_results(postfix)

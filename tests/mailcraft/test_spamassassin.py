"""Every kind of mail scores at most 0 in SpamAssassin's local rules, with and without list headers.

The bulk mails get -1.0 for looking like a list (MAILING_LIST_MULTI); they must not need it, so
each is scored a second time with its List-* and Precedence headers removed. One spamassassin
run scores all twenty messages (an mbox), which keeps the test to a few seconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.mailcraft.conftest import KINDS, Received

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None,
    reason="spamassassin is not installed (Debian: apt-get install spamassassin)",
)
_LIST_HEADER = re.compile(rb"^(?:List-[A-Za-z-]+|Precedence):.*\n(?:[ \t].*\n)*", re.M | re.I)
_STATUS = re.compile(
    rb"^X-Spam-Status: .*?score=(-?[0-9.]+).*?tests=(.*?)\s+autolearn", re.M | re.S
)
_CASE = re.compile(rb"^X-Test-Case: (\d+)$", re.M)


def _without_list_headers(data: bytes) -> bytes:
    head, sep, body = data.partition(b"\n\n")
    return _LIST_HEADER.sub(b"", head + b"\n").rstrip(b"\n") + sep + body


def _mbox(messages: list[bytes]) -> bytes:
    out = []
    for index, data in enumerate(messages):
        # mboxo quoting: a body line starting "From " would otherwise start a new message.
        quoted = re.sub(rb"(?m)^(>*From )", rb">\1", data)
        # spamassassin does not keep the order of an mbox: number each message to find it again.
        out.append(b"From newsletter@network.test Sat Dec  5 09:00:00 2026\n")
        out.append(b"X-Test-Case: %d\n" % index + quoted + b"\n")
    return b"".join(out)


def _scores(messages: list[bytes]) -> list[tuple[float, str]]:
    assert SPAMASSASSIN is not None
    done = subprocess.run(
        [SPAMASSASSIN, "-L", "--mbox"],
        input=_mbox(messages),
        capture_output=True,
        timeout=240,
        check=True,
    )
    scored: dict[int, tuple[float, str]] = {}
    for message in re.split(rb"(?m)^From newsletter@network\.test ", done.stdout)[1:]:
        head = message.partition(b"\n\n")[0]
        case, status = _CASE.search(head), _STATUS.search(head)
        assert case and status, head.decode(errors="replace")
        score, tests = status.groups()
        scored[int(case.group(1))] = (float(score), " ".join(tests.decode().split()))
    assert sorted(scored) == list(range(len(messages))), done.stderr.decode(errors="replace")
    return [scored[index] for index in range(len(messages))]


def test_every_kind_scores_at_most_zero_with_and_without_list_headers(
    every_kind: dict[str, Received],
) -> None:
    plain = {k: every_kind[k].data.replace(b"\r\n", b"\n") for k in KINDS}
    cases = [(k, "as sent", plain[k]) for k in KINDS]
    cases += [(k, "without list headers", _without_list_headers(plain[k])) for k in KINDS]
    assert all(b"List-Id:" not in data for _k, how, data in cases if how != "as sent")
    scores = _scores([data for _k, _how, data in cases])
    report = [
        f"{k} ({how}): {score:+.1f} {tests}"
        for (k, how, _d), (score, tests) in zip(cases, scores, strict=True)
    ]
    sys.stdout.write("\n".join(report) + "\n")  # shown with -s: the score of each kind
    assert [line for line, (score, _t) in zip(report, scores, strict=True) if score > 0] == []
    assert all("LOW_CONTRAST" not in tests for _s, tests in scores), report

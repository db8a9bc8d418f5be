"""Bounce recognition measured over real-world corpora: flufl.bounce's test data and ours.

The figure (hard bounces recognised, with the right address) is printed on every run and
written in the README; the test fails below 98 %, or when any auto-reply, delay warning or
non-bounce would suppress a member.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mailer.bounces import parse
from tests.mailer.test_bounces import CORPUS as OUR_CORPUS
from tests.mailer.test_bounces import EXPECTED, KEY, TEMPLATE

FLUFL = Path(__file__).parent / "bounce_corpus" / "flufl_bounce"
THRESHOLD = 0.98


@dataclass(frozen=True)
class Sample:
    path: Path
    kind: str  # hard | soft | warning | none
    addresses: frozenset[str]


def _flufl_samples() -> list[Sample]:
    samples = []
    for line in (FLUFL / "labels.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, kind, addresses, _why = line.split("\t")
        found = frozenset() if addresses == "-" else frozenset(addresses.split(","))
        samples.append(Sample(FLUFL / name, kind, found))
    return samples


def _our_samples() -> list[Sample]:
    return [
        Sample(OUR_CORPUS / name, kind, frozenset(addresses))
        for name, (kind, addresses, _status, _id) in EXPECTED.items()
    ]


SAMPLES = _flufl_samples() + _our_samples()


def test_every_flufl_message_is_labelled() -> None:
    labelled = {s.path.name for s in _flufl_samples()}
    assert labelled == {p.name for p in FLUFL.glob("*.txt")}
    assert len(SAMPLES) >= 130


def test_hard_bounces_are_recognised_and_nothing_else_suppresses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hard = [s for s in SAMPLES if s.kind == "hard"]
    missed, wrongly_hard = [], []
    for sample in SAMPLES:
        report = parse(sample.path.read_bytes(), verp_template=TEMPLATE, key=KEY)
        if sample.kind == "hard":
            if report.kind != "hard" or not sample.addresses <= set(report.addresses):
                missed.append(f"{sample.path.name}: {report.kind} {report.reason}")
        elif report.kind == "hard":
            wrongly_hard.append(f"{sample.path.name} ({sample.kind}): {report.reason}")
        if sample.kind in ("warning", "none"):
            assert report.kind == "none", f"{sample.path.name} would count: {report.reason}"
    recognised = len(hard) - len(missed)
    figure = (
        f"bounce corpus: {recognised} of {len(hard)} hard bounces recognised "
        f"({100 * recognised / len(hard):.1f} %) in {len(SAMPLES)} messages"
    )
    with capsys.disabled():
        print(f"\n{figure}")  # noqa: T201 - the figure the README quotes
    assert wrongly_hard == []
    assert recognised / len(hard) >= THRESHOLD, "\n".join([figure, *missed])

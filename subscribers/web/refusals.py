"""A service's refusal shown where the user acted, instead of on an error page: beside the form
field it names (the form keeps what they typed), or as a notice above the page a button leads
back to.

Only views that show the refusal there use this; every other refusal (a missing page, a forged
link...) propagates and is answered once, by ``subscribers.web.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from flask import flash

from subscribers.core.errors import Conflict, InvalidInput, NewsletterError


class Notice:
    """Where ``also`` sends a refusal to be flashed as a notice, even when there is a form."""


NOTICE = Notice()

# Where a refusal is shown: a field of the form ("" above the form), the problem to show in its
# place (a fixed message), or NOTICE.
Where = str | InvalidInput | Notice


class Attempt:
    """What the block came to: ``error`` is the refusal as shown (None if it went through)."""

    def __init__(self) -> None:
        self.error: InvalidInput | None = None
        self.noticed = False

    @property
    def refused(self) -> bool:
        return self.error is not None

    @property
    def on_form(self) -> bool:
        """Refused, and shown on the form: the view shows the form again."""
        return self.refused and not self.noticed


def show_errors(form: Any, err: InvalidInput) -> None:
    """Put a service's messages next to the fields they name (or above the form)."""
    for one in err.problems:
        field = form._fields.get(one.field or "") if one.field != "csrf_token" else None
        if field is not None:
            field.errors = [*field.errors, str(one)]
        else:
            form.form_errors.append(str(one))


@contextmanager
def showing_refusals(
    form: Any = None, *, also: Mapping[type[NewsletterError], Where] = MappingProxyType({})
) -> Iterator[Attempt]:
    """Run the block; if a service refuses it with ``InvalidInput`` or ``Conflict`` (or a refusal
    ``also`` names), show the message on ``form`` (beside the field it names, else above), or,
    without a form, as a notice. ``also`` says where a kind of refusal goes instead.

    The block's transaction was rolled back; ``attempt.refused`` tells the view to show the form
    again (or to go back). Any other error propagates to the app's handlers.
    """
    attempt = Attempt()
    try:
        yield attempt
    except NewsletterError as err:
        where = _where(err, also)
        if where is None:
            raise
        attempt.error = _as_problem(err, where)
        attempt.noticed = form is None or isinstance(where, Notice)
        if attempt.noticed:
            flash(str(attempt.error))
        else:
            show_errors(form, attempt.error)


def _where(err: NewsletterError, also: Mapping[type[NewsletterError], Where]) -> Where | None:
    """Where ``also`` sends this refusal (its most specific class first); else an InvalidInput
    is shown as it is (at the fields it names) and a Conflict above the form; None for any
    other refusal (not shown here)."""
    for kind in type(err).__mro__:
        if kind in also:
            return also[kind]
    if isinstance(err, InvalidInput):
        return err
    if isinstance(err, Conflict):
        return ""
    return None


def _as_problem(err: NewsletterError, where: Where) -> InvalidInput:
    """The refusal as the form shows it: ``where``'s own problem, or its message at a field."""
    if isinstance(where, InvalidInput):
        return where
    if isinstance(where, str):
        return InvalidInput(str(err), field=where or None)
    return err if isinstance(err, InvalidInput) else InvalidInput(str(err))

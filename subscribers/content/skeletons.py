"""Transactional mails rendered once per process, not once per member.

A confirmation, already-member or welcome mail differs from one member to the next only in its
personal markers (``@@confirm_url@@``, filled in by the sender, see mailer.compose). What it says
otherwise depends on the kind of mail, the language, the context (the lists a welcome names, a
list's branding), the public base URL and the templates. Rendering and CSS-inlining it costs
milliseconds of CPU (premailer most of them), which on the request path of a registration was
the largest share of its time; so the rendered skeleton is kept here under all of these.

A template edited on disk changes its key (every file of the mail folders is part of it, by
size and modification time: a mail extends ``_base`` and may include others), so the mails
after it, from a second later at most, are rendered afresh. A list renamed or rebranded
changes the context and so the key too.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import FileSystemLoader

from mailer.compose import RenderedMail

if TYPE_CHECKING:  # mails uses this module
    from subscribers.content.mails import MailKit

# Kinds x languages x the list combinations a welcome names: a few hundred at most in practice.
MAX_SKELETONS = 512

_skeletons: OrderedDict[Hashable, RenderedMail] = OrderedDict()
_lock = threading.Lock()
# How long the mail templates' files are taken to be as last looked at: an edit on disk shows
# within a second. Looking at every file for every mail cost a registration ~0.1 ms (issue 19).
RECHECK_SECONDS = 1.0
_versions: dict[tuple[str, ...], tuple[float, Hashable]] = {}  # folders: (looked at, version)
_clock = time.monotonic  # tests replace it


def rendered(kit: MailKit, kind: str, context: Mapping[str, Any]) -> RenderedMail:
    """``kit.render(kind, context)``, from the cache when the same mail was rendered before."""
    try:
        # network_name: the header of a mail for no list shows the name its From shows.
        key = (
            kind,
            kit.language,
            kit.base_url,
            kit.network_name,
            _frozen(context),
            template_version(kit),
        )
    except TypeError:  # a context value that cannot be a key (none of today's mails)
        return kit.render(kind, context)
    with _lock:
        found = _skeletons.get(key)
        if found is not None:
            _skeletons.move_to_end(key)
            return found
    # Rendered outside the lock: two threads missing at once both render the same skeleton.
    mail = kit.render(kind, context)
    with _lock:
        _skeletons[key] = mail
        while len(_skeletons) > MAX_SKELETONS:
            _skeletons.popitem(last=False)
    return mail


def clear() -> None:
    with _lock:
        _skeletons.clear()
        _versions.clear()


def template_version(kit: MailKit) -> tuple[Hashable, ...]:
    """What the mail templates of ``kit`` are right now: each file's name, size and mtime."""
    roots: list[str] = []
    for env in (kit.html_env, kit.text_env):
        if not isinstance(env.loader, FileSystemLoader):
            return (id(env.loader),)  # not files: that environment's own templates, as they are
        roots.extend(root for root in env.loader.searchpath if root not in roots)
    return (_files_version(roots),)


def _files_version(roots: list[str]) -> Hashable:
    """``_scan`` of these folders, looked at again once ``RECHECK_SECONDS`` have passed."""
    key, now = tuple(roots), _clock()
    seen = _versions.get(key)
    if seen is not None and now - seen[0] < RECHECK_SECONDS:
        return seen[1]
    version = _scan(roots)
    _versions[key] = (now, version)
    return version


def _scan(roots: list[str]) -> Hashable:
    found: list[tuple[str, int, int]] = []
    for root in roots:
        try:
            entries = list(os.scandir(os.path.join(root, "email")))
        except OSError:
            continue
        for entry in entries:
            stat = entry.stat()
            found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


def _frozen(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    raise TypeError(f"not a cache key: {type(value).__name__}")

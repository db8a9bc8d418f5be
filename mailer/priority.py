"""Sending yields the CPU to whatever else runs on the machine (the web app, above all).

A drain is background work: when the web app and a worker share the cores, a registration must
not queue behind the next batch of messages (issue 19: on PostgreSQL, a 20,000-member drain
made ``POST /register`` wait over a second). A process whose threads run at niceness 10 gets
about a tenth of the CPU of a normal one while both want it, and all of it when nothing else
does, so a campaign sent on an idle machine is no slower.

Only for processes that do nothing but send (``newsletter worker``, the drain processes of
``drain_processes``): in ``newsletter serve`` the sender shares one interpreter lock with the
web app's threads, and a deprioritised thread holding that lock would make requests wait.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

SENDER_NICENESS = 10


def lower_priority(niceness: int = SENDER_NICENESS) -> int:
    """Run this thread, and the threads it starts from now on, at ``niceness`` (at least).

    On Linux niceness belongs to each thread and is inherited, so call this before starting
    the sending threads. Returns the niceness now in force; where the system does not allow
    it, the priority stays as it was.
    """
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError) as err:  # not POSIX, or not allowed
        log.debug("could not lower the sender's priority: %s", err)
        return 0

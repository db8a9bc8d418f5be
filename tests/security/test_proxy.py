"""NEWSLETTER_TRUSTED_PROXIES: behind a reverse proxy each visitor has their own address."""

from __future__ import annotations

import dataclasses

from flask import Flask
from sqlalchemy import select

from subscribers.core.models import ConsentEvent
from subscribers.core.settings import load
from subscribers.people.registration import IP_LIMIT
from subscribers.runtime import Runtime
from tests.factories import make_list
from tests.web.test_registration_input import form_data

PROXY = "10.0.0.2"


def app_behind(rt: Runtime, proxies: int) -> Flask:
    from subscribers.web import create_app

    settings = dataclasses.replace(rt.settings, trusted_proxies=proxies)
    return create_app(settings, runtime=rt)


def register(app: Flask, email: str, forwarded_for: str) -> int:
    client = app.test_client()
    data = form_data(client, email=email, name="Ana")
    response = client.post(
        "/register",
        data=data,
        environ_base={"REMOTE_ADDR": PROXY},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def test_behind_one_proxy_each_visitor_has_their_own_rate_limit(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    app = app_behind(rt, 1)
    for i in range(IP_LIMIT):
        assert register(app, f"a{i}@example.org", "203.0.113.7") in (200, 302)
    assert register(app, "late@example.org", "203.0.113.7") == 429
    # Another visitor through the same proxy is not throttled with the first.
    assert register(app, "other@example.org", "198.51.100.9") in (200, 302)
    with rt.new_session() as s:
        ips = set(s.execute(select(ConsentEvent.ip)).scalars())
    assert ips == {"203.0.113.7", "198.51.100.9"}


def test_without_the_setting_a_forged_header_is_ignored(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    app = app_behind(rt, 0)
    assert register(app, "ana@example.org", "203.0.113.7") in (200, 302)
    with rt.new_session() as s:
        assert set(s.execute(select(ConsentEvent.ip)).scalars()) == {PROXY}


def test_the_setting_is_a_small_whole_number(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from subscribers.core.settings import SettingsError

    base = {"NEWSLETTER_INSTANCE_PATH": str(tmp_path)}
    assert load({**base, "NEWSLETTER_TRUSTED_PROXIES": "2"}, dotenv=None).trusted_proxies == 2
    for bad in ("-1", "x", "6"):
        with pytest.raises(SettingsError, match="^NEWSLETTER_TRUSTED_PROXIES: "):
            load({**base, "NEWSLETTER_TRUSTED_PROXIES": bad}, dotenv=None)

"""The overview's 30-day activity: counts per UTC day, the chart and its table."""

import re
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from app.dashboard.activity import daily_activity
from app.dashboard.summaries import overview
from app.demo import demo_design
from app.extensions import db
from app.merchants import create_merchant
from app.models import (
    Device,
    PassType,
    PushAttempt,
    Registration,
    RegistrationRemoval,
    utcnow,
)
from app.passes import service

ROOT = Path(__file__).resolve().parent.parent


def _at(day, hour=12, minute=0, second=0):
    return datetime.combine(day, time(hour, minute, second))


def _issue(template, created_at):
    pass_ = service.issue_pass(template, {"holder": "Ann", "seat": "A1", "gate": "3"})
    pass_.created_at = created_at
    db.session.commit()
    return pass_


def _install(pass_, created_at):
    device = Device(library_identifier=f"device-{db.session.query(Device).count()}")
    db.session.add(
        Registration(
            device=device, pass_=pass_, push_token="f" * 64, created_at=created_at
        )
    )
    db.session.commit()


def _remove(pass_, reason, removed_at):
    db.session.add(
        RegistrationRemoval(
            pass_id=pass_.id,
            library_identifier="removed-device",
            reason=reason,
            removed_at=removed_at,
        )
    )
    db.session.commit()


def _push(pass_type, outcome, created_at):
    db.session.add(
        PushAttempt(
            pass_type_id=pass_type.id,
            push_token_suffix="ffffffff",
            outcome=outcome,
            created_at=created_at,
        )
    )
    db.session.commit()


@pytest.fixture
def rival_template(pass_type):
    """A template of another merchant's pass type."""
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    rival_type = PassType(
        merchant=rival,
        pass_type_identifier="pass.test.rival",
        team_identifier=pass_type.team_identifier,
        certificate_pem=pass_type.certificate_pem,
        wwdr_certificate_pem=pass_type.wwdr_certificate_pem,
        private_key_encrypted=pass_type.private_key_encrypted,
        certificate_expires_at=pass_type.certificate_expires_at,
    )
    db.session.add(rival_type)
    db.session.commit()
    return service.create_template(rival_type, "Rival concert", demo_design())


@pytest.fixture
def activity(template, rival_template):
    """Rows on chosen days before `today`: what counts, what must not."""
    today = utcnow().date()
    first = today - timedelta(days=29)

    # Counted: today, the first day of the window at midnight, and 10 days ago.
    issued_today = _issue(template, _at(today, 1))
    _issue(template, _at(today, 23, 59, 59))
    first_day = _issue(template, _at(first, 0))
    ten_days_ago = _issue(template, _at(today - timedelta(days=10)))
    _install(issued_today, _at(today, 2))
    _install(ten_days_ago, _at(today - timedelta(days=10), 13))
    _install(first_day, _at(today - timedelta(days=3)))
    _remove(issued_today, "unregistered", _at(today, 9))
    _remove(ten_days_ago, "apns_unregistered", _at(today - timedelta(days=10), 14))
    _remove(first_day, "bad_device_token", _at(first, 0))
    _push(template.pass_type, "sent", _at(today, 3))
    _push(template.pass_type, "sent", _at(today, 4))
    _push(template.pass_type, "unregistered", _at(today, 5))
    _push(template.pass_type, "failed", _at(first, 0))
    _push(template.pass_type, "bad_device_token", _at(today - timedelta(days=3)))

    # Not counted: the second before the window and 31 days ago.
    before = _issue(template, _at(first - timedelta(days=1), 23, 59, 59))
    _issue(template, _at(today - timedelta(days=31)))
    _install(before, _at(today - timedelta(days=31)))
    _remove(before, "unregistered", _at(first - timedelta(days=1), 23, 59, 59))
    _push(template.pass_type, "sent", _at(first - timedelta(days=1), 23, 59, 59))
    _push(template.pass_type, "failed", _at(today - timedelta(days=31)))

    # Not counted: everything of the other merchant, on days that count.
    rival_pass = _issue(rival_template, _at(today, 6))
    _install(rival_pass, _at(today, 7))
    _remove(rival_pass, "unregistered", _at(today, 7))
    _push(rival_template.pass_type, "sent", _at(today, 8))
    _push(rival_template.pass_type, "failed", _at(first, 9))

    # (passes issued, installs, removals, pushes sent, pushes failed)
    expected = {first + timedelta(days=n): (0, 0, 0, 0, 0) for n in range(30)}
    expected[today] = (2, 1, 1, 2, 1)
    expected[today - timedelta(days=3)] = (0, 1, 0, 0, 1)
    expected[today - timedelta(days=10)] = (1, 1, 1, 0, 0)
    expected[first] = (1, 0, 1, 0, 1)
    return today, expected


def test_activity_counts_each_of_the_last_30_days(app, merchant, activity):
    today, expected = activity

    days = daily_activity(merchant.id, now=_at(today, 23, 59, 59))

    assert len(days) == 30
    assert [day.day for day in days] == sorted(expected)
    assert {
        day.day: (
            day.passes_issued,
            day.installs,
            day.removals,
            day.pushes_sent,
            day.pushes_failed,
        )
        for day in days
    } == expected


def test_overview_counts_removals_of_the_last_30_days(app, merchant, activity):
    today, _ = activity

    counts = overview(merchant.id, now=_at(today, 12))
    later = overview(merchant.id, now=_at(today + timedelta(days=1), 12))

    # The chart's three, and the one at 23:59:59 the day before its first day;
    # a day later, the first day's midnight one has left the 30 days as well.
    assert counts.removals == 4
    assert later.removals == 2
    assert counts.installs == 4


def test_activity_is_all_zeros_without_rows(app, merchant):
    today = datetime(2026, 3, 1, 0, 0)

    days = daily_activity(merchant.id, now=today)

    assert len(days) == 30
    assert days[0].day.isoformat() == "2026-01-31"
    assert days[-1].day.isoformat() == "2026-03-01"
    assert all(
        (
            day.passes_issued,
            day.installs,
            day.removals,
            day.pushes_sent,
            day.pushes_failed,
        )
        == (0, 0, 0, 0, 0)
        for day in days
    )


_ROW = re.compile(
    r"<tr><th scope=\"row\">(\d{4}-\d\d-\d\d)</th>"
    r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>"
)


def test_overview_table_shows_the_same_numbers(client, auth, activity):
    today, expected = activity
    auth.login()

    response = client.get("/dashboard/")

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    table = text[text.index('<table class="activity-numbers">') :]
    rows = {
        datetime.fromisoformat(day).date(): tuple(int(n) for n in counts)
        for day, *counts in _ROW.findall(table)
    }
    assert rows == expected
    assert '<svg class="activity-chart"' in text
    title = f"Activity per UTC day, {min(expected)} to {today}"
    assert f'<title id="activity-title">{title}</title>' in text
    assert (
        "Passes issued (4 in total), Installs (3 in total), Removals (3 in total), "
        "Pushes sent (2 in total), Pushes failed (3 in total)."
    ) in text
    assert text.count('<g class="activity-series') == 5
    assert '<g class="activity-series series-removals">' in text
    assert f"<title>Pushes sent, {today}: 2</title>" in text
    assert f"<title>Removals, {today}: 1</title>" in text
    assert f"<title>Removals, {min(expected)}: 1</title>" in text
    assert "Removals are not recorded" not in text
    # Above the chart, removals of the last 30 times 24 hours, as for pushes:
    # the one a second before the chart's first day falls within them too.
    assert "<strong>4</strong><span>removals (30 days)</span>" in text


def test_another_merchant_sees_only_its_own(client, auth, activity):
    today, expected = activity
    auth.login("rival@other.test", "rival password")

    text = client.get("/dashboard/").get_data(as_text=True)

    rows = {day: tuple(int(n) for n in counts) for day, *counts in _ROW.findall(text)}
    assert len(rows) == 30
    assert rows.pop(str(today)) == (1, 1, 1, 1, 0)
    assert rows.pop(str(min(expected))) == (0, 0, 0, 0, 1)
    assert set(rows.values()) == {(0, 0, 0, 0, 0)}
    assert "<strong>1</strong><span>removals (30 days)</span>" in text


def test_the_overview_numbers_table_is_hidden_without_taking_space(client, auth):
    create_merchant("Venue", "owner@venue.test", "correct horse")
    auth.login()

    text = client.get("/dashboard/").get_data(as_text=True)
    css = (ROOT / "static" / "passline.css").read_text()

    assert re.search(
        r'<div class="visually-hidden">\s*<table class="activity-numbers">', text
    )
    rule = re.search(r"\.visually-hidden \{([^}]*)\}", css).group(1)
    for part in (
        "position: absolute",
        "width: 1px",
        "height: 1px",
        "overflow: hidden",
        "clip-path: inset(50%)",
        "white-space: nowrap",
    ):
        assert part in rule
    # A table ignores its own height, so it must not carry the rule itself.
    assert ".activity-numbers {" not in css

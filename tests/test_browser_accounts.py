"""A merchant signs up, finds the dashboard and signs out, in a real browser."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import User


@pytest.mark.browser
def test_sign_up_sign_out_and_back_in(live_server, page):
    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(r"/account/login\?next=%2Fdashboard%2F$"))
    page.get_by_role("link", name="Create an account").click()

    page.get_by_label("Business name").fill("Harbour Ferries")
    page.get_by_label("Email").fill("ops@harbour.example")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Use at least 10 characters.")).to_be_visible()

    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat the password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("ops@harbour.example")).to_be_visible()
    assert db.session.scalars(select(User.email)).all() == ["ops@harbour.example"]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("ops@harbour.example")
    page.get_by_label("Password").fill("wrong passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

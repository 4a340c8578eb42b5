"""Signing up, in and out of the dashboard, with CSRF and rate limits on."""

import html

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from app.extensions import db
from app.models import AuditEntry, Merchant, User
from tests.conftest import csrf_token


def _signup(client, **fields):
    data = {
        "business": "Blue Note Club",
        "email": "Night@Blue.example",
        "password": "long enough pw",
        "confirm": "long enough pw",
        "csrf_token": csrf_token(client, "/account/signup"),
        **fields,
    }
    return client.post("/account/signup", data=data)


def test_signup_creates_a_merchant_and_signs_in(client):
    response = _signup(client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"
    user = db.session.scalars(select(User)).one()
    assert user.email == "night@blue.example"
    assert user.merchant.name == "Blue Note Club"
    assert user.password_hash.startswith("scrypt:")
    assert check_password_hash(user.password_hash, "long enough pw")
    overview = client.get("/dashboard/")
    assert overview.status_code == 200
    assert "night@blue.example" in overview.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short", "confirm": "short"}, "Use at least 10 characters."),
        ({"confirm": "something else"}, "The passwords differ."),
        ({"email": "not-an-email"}, "An email address must have an @-sign."),
        ({"business": ""}, "This field is required."),
    ],
)
def test_signup_errors_appear_next_to_the_field(client, fields, message):
    response = _signup(client, **fields)

    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Merchant.id))) == 0


def test_signup_with_a_taken_email_is_refused(app):
    assert _signup(app.test_client()).status_code == 302

    response = _signup(app.test_client(), email="NIGHT@blue.example")

    assert response.status_code == 200
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_login_and_logout(client, auth, merchant):
    assert client.get("/dashboard/").status_code == 302

    response = auth.login()
    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/")
    assert client.get("/dashboard/").status_code == 200

    assert client.get("/account/logout").status_code == 405
    assert auth.logout().status_code == 302
    assert client.get("/dashboard/").status_code == 302
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions[-1] == "user.login"


def test_wrong_password_is_refused_and_audited(client, auth, merchant):
    response = auth.login(password="wrong horse")

    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[-1]
    assert (entry.action, entry.subject, entry.actor) == (
        "user.login_failed",
        "owner@venue.test",
        "anonymous",
    )


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/dashboard/pass-types/1", "/dashboard/pass-types/1"),
        ("https://evil.example/", "/dashboard/"),
        ("//evil.example/x", "/dashboard/"),
        ("/\\evil.example", "/dashboard/"),
        ("javascript:alert(1)", "/dashboard/"),
    ],
)
def test_next_only_leads_within_the_site(client, auth, merchant, target, landing):
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        query_string={"next": target},
        data={
            "email": "owner@venue.test",
            "password": "correct horse",
            "csrf_token": token,
        },
    )

    assert response.headers["Location"] == landing


def test_anonymous_visit_is_sent_to_login_with_next(client):
    response = client.get("/dashboard/pass-types/7")

    assert response.status_code == 302
    assert (
        response.headers["Location"]
        == "/account/login?next=%2Fdashboard%2Fpass-types%2F7"
    )


def test_posts_without_a_csrf_token_are_refused(client, merchant):
    login = client.post(
        "/account/login",
        data={"email": "owner@venue.test", "password": "correct horse"},
    )
    signup = client.post(
        "/account/signup",
        data={
            "business": "X",
            "email": "x@x.test",
            "password": "long enough pw",
            "confirm": "long enough pw",
        },
    )
    logout = client.post("/account/logout")

    assert (login.status_code, signup.status_code, logout.status_code) == (
        400,
        400,
        400,
    )
    assert "CSRF" in login.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_login_attempts_are_rate_limited(client, auth, merchant, app):
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    answers = [auth.login(password="wrong").status_code for _ in range(limit)]

    assert answers == [200] * limit
    assert auth.login().status_code == 429
    assert client.get("/dashboard/").status_code == 302


def test_session_cookie_flags(client, auth, merchant):
    response = auth.login()

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie


def test_signup_says_why_an_email_is_refused(client):
    path = "/account/signup"
    response = client.post(
        path,
        data={
            "business": "New Cafe",
            "email": "owner@newcafe.test",
            "password": "long enough pw",
            "confirm": "long enough pw",
            "csrf_token": csrf_token(client, path),
        },
    )

    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "special-use or reserved name" in text
    assert "Invalid email address." not in text

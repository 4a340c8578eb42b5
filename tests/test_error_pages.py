"""Error pages: the site's own for browsers, bare for Wallet, problems for the API."""

import html

from app.config import Defaults
from tests.conftest import csrf_token

STYLESHEET = '<link rel="stylesheet" href="/static/passline.css">'


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _boom():
    raise RuntimeError("an unexpected failure")


def test_unknown_page_gets_the_sites_404(client):
    response = client.get("/dashboard/no-such-page")

    text = _text(response)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert STYLESHEET in text
    assert "<h1>That page does not exist</h1>" in text
    assert "Not Found" not in text


def test_wrong_method_gets_the_sites_405_with_allow(client):
    response = client.get("/account/logout")

    text = _text(response)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert STYLESHEET in text
    assert "<h1>That page cannot be used this way</h1>" in text


def test_unexpected_failure_gets_the_sites_500(app, client):
    app.add_url_rule("/dashboard/boom", "boom", _boom)

    response = client.get("/dashboard/boom")

    text = _text(response)
    assert response.status_code == 500
    assert STYLESHEET in text
    assert "<h1>Something went wrong on our side</h1>" in text
    assert "an unexpected failure" not in text


def test_expired_form_page_explains_and_offers_to_go_back(client):
    response = client.post(
        "/account/login", data={"email": "a@b.example", "password": "x"}
    )

    text = _text(response)
    assert response.status_code == 400
    assert STYLESHEET in text
    assert "The form expired" in text
    assert "sent from another site" in text
    assert '<button type="button" data-go-back hidden>Go back to the form</button>' in (
        text
    )
    assert "Back button: it keeps what you typed" in text
    assert '<script src="/static/go_back.js" defer></script>' in text
    assert "The CSRF token is missing." in text


def test_login_rate_limit_page_says_how_long_to_wait(client, auth, app):
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    for _ in range(limit):
        auth.login(password="wrong password")

    response = auth.login()

    text = _text(response)
    assert response.status_code == 429
    assert STYLESHEET in text
    assert "<h1>Too many attempts</h1>" in text
    # The window of a minute started with the first attempt, moments ago.
    assert "Wait about 1 minute, then try again." in text


def test_wallet_errors_stay_bare(app, client):
    app.add_url_rule("/passkit/v1/boom", "wallet_boom", _boom)

    missing = client.get("/passkit/v1/no-such-thing")
    wrong = client.put("/passkit/v1/log")
    failed = client.get("/passkit/v1/boom")

    assert (missing.status_code, missing.data) == (404, b"")
    assert (wrong.status_code, wrong.data) == (405, b"")
    assert "POST" in wrong.headers["Allow"]
    assert (failed.status_code, failed.data) == (500, b"")


def test_api_errors_stay_problems(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_csrf_tokens_last_as_long_as_the_session(app, client, auth, merchant):
    assert Defaults.WTF_CSRF_TIME_LIMIT is None
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
    auth.login()
    token = csrf_token(client, "/dashboard/")

    response = client.post("/account/logout", data={"csrf_token": token})

    assert response.status_code == 302

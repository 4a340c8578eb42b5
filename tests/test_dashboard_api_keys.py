"""The API keys page: making a key (shown once), listing and revoking keys."""

import re

from sqlalchemy import select

from app.api import keys
from app.extensions import db
from app.merchants import create_merchant
from app.models import ApiKey, AuditEntry
from tests.conftest import csrf_token

PAGE = "/dashboard/api-keys"
KEY = re.compile(r'<code id="new-api-key">(pl_[A-Za-z0-9_-]+)</code>')


def _stored() -> list[ApiKey]:
    db.session.expire_all()
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def _make_key(client, name="Box office") -> str:
    token = csrf_token(client, PAGE)
    response = client.post(PAGE, data={"name": name, "csrf_token": token})
    assert response.status_code == 200
    match = KEY.search(response.get_data(as_text=True))
    assert match, "the new key is not shown"
    return match.group(1)


def test_a_new_key_is_shown_once_and_stored_hashed(client, auth, merchant):
    auth.login()

    key = _make_key(client)

    (stored,) = _stored()
    assert (stored.merchant_id, stored.name) == (merchant.id, "Box office")
    assert stored.key_hash == keys.hash_key(key)
    assert stored.prefix == key[:11]
    row = db.session.execute(select(ApiKey.__table__)).one()
    assert key not in " ".join(str(value) for value in row)
    page = client.get(PAGE).get_data(as_text=True)
    assert key not in page
    assert f"{stored.prefix}…" in page and "never" in page
    entry = db.session.scalar(select(AuditEntry).filter_by(action="api_key.created"))
    assert entry.merchant_id == merchant.id and entry.actor.startswith("user:")

    response = client.get("/api/v1/passes", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_a_key_needs_a_name(client, auth, merchant):
    auth.login()
    token = csrf_token(client, PAGE)

    response = client.post(PAGE, data={"name": "  ", "csrf_token": token})

    assert response.status_code == 400
    assert "Give the key a name." in response.get_data(as_text=True)
    assert _stored() == []


def test_a_key_name_with_control_characters_is_refused(client, auth, merchant):
    auth.login()
    token = csrf_token(client, PAGE)

    response = client.post(PAGE, data={"name": "box\x00office", "csrf_token": token})

    assert response.status_code == 400
    assert "Use printable characters only." in response.get_data(as_text=True)
    assert _stored() == []


def test_making_a_key_needs_the_csrf_token(client, auth, merchant):
    auth.login()

    response = client.post(PAGE, data={"name": "No token"})

    assert response.status_code == 400
    assert _stored() == []


def test_revoking_stops_the_key(client, auth, merchant):
    auth.login()
    key = _make_key(client)
    (stored,) = _stored()
    path = f"{PAGE}/{stored.id}/revoke"

    assert client.post(path).status_code == 400  # no CSRF token
    response = client.post(path, data={"csrf_token": csrf_token(client, PAGE)})

    assert (response.status_code, response.headers["Location"]) == (302, PAGE)
    assert _stored()[0].revoked_at is not None
    assert "revoked" in client.get(PAGE).get_data(as_text=True)
    api = client.get("/api/v1/passes", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 401


def test_another_merchant_cannot_revoke_or_see_a_key(client, auth, merchant):
    stored, _ = keys.create_key(merchant.id, "Owner's key", "user:1")
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")

    page = client.get(PAGE).get_data(as_text=True)
    response = client.post(
        f"{PAGE}/{stored.id}/revoke", data={"csrf_token": csrf_token(client, PAGE)}
    )

    assert "Owner&#39;s key" not in page and stored.prefix not in page
    assert response.status_code == 404
    assert _stored()[0].revoked_at is None


def test_anonymous_visitors_are_sent_to_sign_in(client, merchant):
    token = csrf_token(client, "/account/login")

    response = client.post(PAGE, data={"name": "Sneaky", "csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login?next=")
    assert _stored() == []

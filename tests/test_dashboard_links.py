"""A pass's download links on its dashboard page: new links and revoking them."""

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import create_link, create_order_link, link_url
from app.extensions import db
from app.merchants import create_merchant
from app.models import AuditEntry, DownloadLink, User, utcnow
from app.passes import service
from tests.conftest import csrf_token

FLASHED_LINK = re.compile(r"New download link: (https://passline\.test/p/[\w-]+)")


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _links() -> list[tuple]:
    db.session.expire_all()
    links = db.session.scalars(select(DownloadLink).order_by(DownloadLink.id))
    return [
        (link.token, [p.id for p in link.passes], link.expires_at, link.revoked_at)
        for link in links
    ]


def _audit() -> list[tuple]:
    db.session.expire_all()
    entries = db.session.scalars(select(AuditEntry).filter_by(action="link.revoked"))
    return [(e.subject, e.actor, e.merchant_id) for e in entries]


def _owner_id() -> int:
    return db.session.scalar(select(User.id).filter_by(email="owner@venue.test"))


@pytest.fixture
def signed_in(client, auth, issued_pass):
    auth.login()
    return csrf_token(client, f"/dashboard/passes/{issued_pass.id}")


@pytest.fixture(scope="session")
def rival_chain():
    return make_development_chain("pass.test.rival.tickets", "RIVALTEAM1")


@pytest.fixture
def rival(rival_chain):
    """Another merchant, with a pass of its own."""
    merchant = create_merchant("Rival", "rival@other.example", "rival password")
    pass_type = service.create_pass_type(merchant, rival_chain.identity())
    template = service.create_template(pass_type, "Rival show", demo_design())
    return service.issue_pass(template, {"holder": "Rita", "seat": "R1", "gate": "9"})


# New links


@pytest.mark.parametrize("days", ["7", " 365 "])
def test_the_owner_makes_a_link_that_expires(client, signed_in, issued_pass, days):
    path = f"/dashboard/passes/{issued_pass.id}"
    before = utcnow()

    response = client.post(
        f"{path}/links", data={"expires_in_days": days, "csrf_token": signed_in}
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    [(token, pass_ids, expires_at, revoked_at)] = _links()
    assert (pass_ids, revoked_at) == ([issued_pass.id], None)
    expected = before + timedelta(days=int(days))
    assert expected <= expires_at <= expected + timedelta(minutes=1)
    page = _text(client.get(path))
    assert FLASHED_LINK.search(page).group(1) == f"https://passline.test/p/{token}"
    assert f"(expires {expires_at:%Y-%m-%d %H:%M:%S} UTC)" in page
    assert client.get(f"/p/{token}").status_code == 200


def test_an_empty_expiry_makes_a_link_that_never_ends(client, signed_in, issued_pass):
    response = client.post(
        f"/dashboard/passes/{issued_pass.id}/links",
        data={"expires_in_days": "", "csrf_token": signed_in},
    )

    assert response.status_code == 302
    [(_, pass_ids, expires_at, revoked_at)] = _links()
    assert (pass_ids, expires_at, revoked_at) == ([issued_pass.id], None, None)


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("0", "Give a number of days from 1 to 365."),
        ("366", "Give a number of days from 1 to 365."),
        ("-3", "Give a number of days from 1 to 365."),
        ("99999999999999999999999", "Give a number of days from 1 to 365."),
        ("two", "Not a valid integer value."),
        ("1.5", "Not a valid integer value."),
    ],
)
def test_a_bad_expiry_is_named_next_to_its_field(
    client, signed_in, issued_pass, days, message
):
    existing = create_link(issued_pass)
    before = _links()

    response = client.post(
        f"/dashboard/passes/{issued_pass.id}/links",
        data={"expires_in_days": days, "csrf_token": signed_in},
    )

    text = _text(response)
    assert response.status_code == 200
    error = re.search(r'<span class="error" id="expires_in_days-error">([^<]*)', text)
    assert message in error.group(1)
    assert f'name="expires_in_days" type="number" value="{days}"' in text
    # The rest of the page is whole: the data form keeps the pass's data.
    assert 'name="value-holder" type="text" value="Ann"' in text
    assert link_url(existing) in text
    assert _links() == before


# Revoking


def test_the_owner_revokes_a_link(client, signed_in, issued_pass):
    kept = create_link(issued_pass)
    link = create_link(issued_pass)
    path = f"/dashboard/passes/{issued_pass.id}"
    assert f'action="{path}/links/{link.id}/revoke"' in _text(client.get(path))

    response = client.post(
        f"{path}/links/{link.id}/revoke", data={"csrf_token": signed_in}
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    stored = {token: revoked_at for token, _, _, revoked_at in _links()}
    assert stored[kept.token] is None
    assert utcnow() - timedelta(minutes=1) < stored[link.token] <= utcnow()
    assert _audit() == [
        (
            f"link {link.id} of {issued_pass.serial_number}",
            f"user:{_owner_id()}",
            issued_pass.pass_type.merchant_id,
        )
    ]
    page = _text(client.get(path))
    assert "The link is revoked" in page
    assert f"{link_url(link)}</a>" in page
    assert f'action="{path}/links/{link.id}/revoke"' not in page
    assert f'action="{path}/links/{kept.id}/revoke"' in page
    assert client.get(f"/p/{link.token}").status_code == 410
    assert client.get(f"/p/{kept.token}").status_code == 200


def test_revoking_twice_changes_nothing(client, signed_in, issued_pass):
    link = create_link(issued_pass)
    path = f"/dashboard/passes/{issued_pass.id}/links/{link.id}/revoke"
    client.post(path, data={"csrf_token": signed_in})
    before = (_links(), _audit())

    response = client.post(path, data={"csrf_token": signed_in}, follow_redirects=True)

    assert response.status_code == 200
    assert "That link no longer works already." in _text(response)
    assert (_links(), _audit()) == before


def test_an_order_link_shows_and_revokes_on_each_pass(
    client, signed_in, issued_pass, template
):
    other = service.issue_pass(template, {"holder": "Bo", "seat": "A2", "gate": "3"})
    order = create_order_link([issued_pass, other])
    other_page = f"/dashboard/passes/{other.id}"
    assert "(an order of 2 passes)" in _text(client.get(other_page))

    response = client.post(
        f"{other_page}/links/{order.id}/revoke", data={"csrf_token": signed_in}
    )

    assert response.status_code == 302
    [(_, pass_ids, _, revoked_at)] = _links()
    assert pass_ids == [issued_pass.id, other.id]
    assert revoked_at is not None
    assert _audit()[0][0] == (
        f"link {order.id} of {issued_pass.serial_number}, {other.serial_number}"
    )
    page = _text(client.get(f"/dashboard/passes/{issued_pass.id}"))
    assert "(revoked)" in page


# Who may


def test_another_merchant_gets_404(client, auth, issued_pass, rival):
    link = create_link(issued_pass)
    auth.login("rival@other.example", "rival password")
    token = csrf_token(client, f"/dashboard/passes/{rival.id}")
    before = (_links(), _audit())

    new = client.post(
        f"/dashboard/passes/{issued_pass.id}/links",
        data={"expires_in_days": "3", "csrf_token": token},
    )
    revoke = client.post(
        f"/dashboard/passes/{issued_pass.id}/links/{link.id}/revoke",
        data={"csrf_token": token},
    )
    # The rival's own pass with the owner's link: the link is not the pass's.
    crossed = client.post(
        f"/dashboard/passes/{rival.id}/links/{link.id}/revoke",
        data={"csrf_token": token},
    )

    assert (new.status_code, revoke.status_code, crossed.status_code) == (
        404,
        404,
        404,
    )
    assert (_links(), _audit()) == before


def test_a_link_of_another_pass_is_404(client, signed_in, issued_pass, template):
    other = service.issue_pass(template, {"holder": "Bo", "seat": "A2", "gate": "3"})
    link = create_link(other)
    before = _links()

    response = client.post(
        f"/dashboard/passes/{issued_pass.id}/links/{link.id}/revoke",
        data={"csrf_token": signed_in},
    )

    assert response.status_code == 404
    assert _links() == before


def test_posts_without_a_csrf_token_are_refused(client, signed_in, issued_pass):
    link = create_link(issued_pass)
    path = f"/dashboard/passes/{issued_pass.id}/links"
    before = (_links(), _audit())

    new = client.post(path, data={"expires_in_days": "3"})
    revoke = client.post(f"{path}/{link.id}/revoke")

    assert (new.status_code, revoke.status_code) == (400, 400)
    assert "CSRF" in new.get_data(as_text=True)
    assert (_links(), _audit()) == before


def test_anonymous_visitors_are_sent_to_login(client, issued_pass):
    link = create_link(issued_pass)
    path = f"/dashboard/passes/{issued_pass.id}/links"
    token = csrf_token(client, "/account/login")
    before = _links()

    for target in (path, f"{path}/{link.id}/revoke"):
        response = client.post(
            target, data={"expires_in_days": "3", "csrf_token": token}
        )

        assert response.status_code == 302, target
        assert response.headers["Location"].startswith("/account/login?next=")
    assert _links() == before

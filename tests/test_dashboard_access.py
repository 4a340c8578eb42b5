"""Who may see each dashboard page: anonymous, another merchant, the owner."""

import pytest

from app.merchants import create_merchant


@pytest.fixture
def pages(pass_type):
    """Every dashboard page, with the ids of the owner's objects filled in."""
    return ["/dashboard/", f"/dashboard/pass-types/{pass_type.id}"]


# Pages that show one object answer 404 to another merchant; the overview
# simply shows that merchant's own (empty) data.
OWN_DATA_ONLY = {"/dashboard/"}


def test_anonymous_visitors_are_sent_to_login(client, pages):
    for page in pages:
        response = client.get(page)

        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/account/login?next="), page


def test_another_merchant_gets_404(client, auth, pages, pass_type):
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")

    for page in pages:
        response = client.get(page)

        if page in OWN_DATA_ONLY:
            assert response.status_code == 200, page
            assert pass_type.pass_type_identifier not in response.get_data(as_text=True)
        else:
            assert response.status_code == 404, page


def test_the_owner_sees_every_page(client, auth, pages, pass_type):
    auth.login()

    for page in pages:
        response = client.get(page)

        assert response.status_code == 200, page
        assert pass_type.pass_type_identifier in response.get_data(as_text=True)


def test_overview_counts_the_owners_passes(client, auth, issued_pass):
    auth.login()

    text = client.get("/dashboard/").get_data(as_text=True)

    assert "<strong>1</strong><span>passes</span>" in text
    assert "<strong>0</strong><span>installs</span>" in text


def test_root_leads_to_the_dashboard(client):
    response = client.get("/")

    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/")

"""Who may see each dashboard page: anonymous, another merchant, the owner."""

import pytest

from app import jobs
from app.merchants import create_merchant
from app.passes import service


@pytest.fixture
def pages(issued_pass):
    """Every dashboard page, with text only the owner's data shows on it."""
    pass_type = issued_pass.pass_type
    template_update = service.update_template_design(
        issued_pass.template, issued_pass.template.design
    )
    jobs.join()
    template_page = f"/dashboard/templates/{issued_pass.template_id}"
    return {
        "/dashboard/": pass_type.pass_type_identifier,
        "/dashboard/pass-types/new": None,
        f"/dashboard/pass-types/{pass_type.id}": pass_type.pass_type_identifier,
        "/dashboard/passes": issued_pass.serial_number,
        f"/dashboard/passes/{issued_pass.id}": issued_pass.serial_number,
        "/dashboard/templates": issued_pass.template.name,
        "/dashboard/templates/import": None,
        template_page: issued_pass.template.name,
        f"{template_page}/updates/{template_update.id}": None,
        f"{template_page}/images": issued_pass.template.name,
        f"{template_page}/images/files/icon.png": None,
    }


# Pages that show one object answer 404 to another merchant; these simply show
# that merchant's own (empty) data, or a blank form.
OWN_DATA_ONLY = {
    "/dashboard/",
    "/dashboard/pass-types/new",
    "/dashboard/passes",
    "/dashboard/templates",
    "/dashboard/templates/import",
}


def test_anonymous_visitors_are_sent_to_login(client, pages):
    for page in pages:
        response = client.get(page)

        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/account/login?next="), page


def test_another_merchant_gets_404(client, auth, pages):
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")

    for page, owners_text in pages.items():
        response = client.get(page)

        if page in OWN_DATA_ONLY:
            assert response.status_code == 200, page
            if owners_text:
                assert owners_text not in response.get_data(as_text=True), page
        else:
            assert response.status_code == 404, page


def test_the_owner_sees_every_page(client, auth, pages):
    auth.login()

    for page, owners_text in pages.items():
        response = client.get(page)

        assert response.status_code == 200, page
        if owners_text:
            assert owners_text in response.get_data(as_text=True), page


def test_overview_counts_the_owners_passes(client, auth, issued_pass):
    auth.login()

    text = client.get("/dashboard/").get_data(as_text=True)

    assert "<strong>1</strong><span>passes</span>" in text
    assert "<strong>0</strong><span>installs</span>" in text


def test_root_leads_to_the_dashboard(client):
    response = client.get("/")

    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/")


def test_every_dashboard_route_is_in_the_matrix(app, pages):
    """A new page must join the matrix above (POST-only actions are tested apart)."""
    get_rules = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("dashboard.") and "GET" in rule.methods
    }
    listed = {
        page.rsplit("/", 1)[0] + "/<int:" if page[-1].isdigit() else page
        for page in pages
    }

    for rule in get_rules:
        prefix = rule.split("<")[0] + "<int:" if "<" in rule else rule
        assert prefix in listed, rule

"""Who may see each dashboard page: anonymous, another merchant, the owner."""

import pytest
from werkzeug.routing import IntegerConverter

from app import jobs
from app.api.keys import create_key
from app.mail import start_mail_batch
from app.merchants import create_merchant
from app.passes import service
from app.passes.bulk import runs as bulk_imports
from app.webhooks.endpoints import create_endpoint


@pytest.fixture
def pages(issued_pass):
    """Every dashboard page, with text only the owner's data shows on it."""
    pass_type = issued_pass.pass_type
    template_update = service.update_template_design(
        issued_pass.template, issued_pass.template.design
    )
    # The pass has no email, so the batch is finished with its one failure.
    mail_batch = start_mail_batch(pass_type.merchant_id, [issued_pass.id], "user:1")
    api_key, _ = create_key(pass_type.merchant_id, "Box office script", "user:1")
    jobs.join()
    template_page = f"/dashboard/templates/{issued_pass.template_id}"
    # Made after the events above, so nothing is sent to it.
    endpoint = create_endpoint(
        pass_type.merchant_id,
        "https://hooks.venue.test/passline",
        ["pass.removed"],
        actor="cli",
    )
    bulk_import = bulk_imports.create_import(
        issued_pass.template,
        "matrix-guests.csv",
        b"holder,seat,gate\nAnn,A1,3\n",
        "cli",
    )
    bulk_page = f"/dashboard/bulk-imports/{bulk_import.id}"
    return {
        "/dashboard/": pass_type.pass_type_identifier,
        "/dashboard/pass-types/new": None,
        f"/dashboard/pass-types/{pass_type.id}": pass_type.pass_type_identifier,
        "/dashboard/passes": issued_pass.serial_number,
        f"/dashboard/passes/{issued_pass.id}": issued_pass.serial_number,
        "/dashboard/templates": issued_pass.template.name,
        "/dashboard/templates/import": None,
        "/dashboard/webhooks": endpoint.url,
        "/dashboard/webhooks/new": None,
        f"/dashboard/webhooks/{endpoint.id}": endpoint.url,
        "/dashboard/api-keys": api_key.prefix,
        template_page: issued_pass.template.name,
        f"{template_page}/updates/{template_update.id}": None,
        f"{template_page}/bulk": issued_pass.template.name,
        bulk_page: bulk_import.filename,
        f"{bulk_page}/progress": None,
        f"{bulk_page}/refused.csv": "line",
        "/dashboard/mail": f'href="/dashboard/mail/{mail_batch.id}"',
        "/dashboard/mail/new": None,
        f"/dashboard/mail/{mail_batch.id}": issued_pass.serial_number,
        f"/dashboard/mail/{mail_batch.id}/progress": None,
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
    "/dashboard/api-keys",
    "/dashboard/mail",
    "/dashboard/mail/new",
    "/dashboard/webhooks",
    "/dashboard/webhooks/new",
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
    urls = app.url_map.bind("passline.test")
    listed = {
        urls.match(page.split("?")[0], method="GET", return_rule=True)[0].rule
        for page in pages
    }

    assert sorted(get_rules - listed) == []


def _any_url(rule) -> str:
    """Fill a rule's variables with a value of the right type."""
    values = {
        name: 1 if isinstance(converter, IntegerConverter) else "x"
        for name, converter in rule._converters.items()
    }
    return rule.build(values)[1]


def test_every_form_post_needs_the_csrf_token(client, auth, issued_pass):
    """Each dashboard and account POST is refused without the token, signed in."""
    auth.login()
    posts = [
        rule
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in {"dashboard", "auth"}
        and "POST" in rule.methods
    ]
    assert len(posts) > 10

    for rule in posts:
        response = client.post(_any_url(rule), data={"anything": "1"})

        assert response.status_code == 400, rule.rule
        assert "CSRF" in response.get_data(as_text=True), rule.rule


def test_an_id_no_column_holds_is_404_on_every_page(client, auth, app):
    """Ids past the 32-bit columns name nothing, on SQLite and PostgreSQL alike."""
    auth.login()
    huge = 10**20
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("dashboard.") and "int" in rule.rule
    ]
    assert len(rules) > 10

    for rule in rules:
        values = {
            name: huge if isinstance(converter, IntegerConverter) else "x"
            for name, converter in rule._converters.items()
        }
        path = rule.build(values, append_unknown=False)[1]
        method = "GET" if "GET" in rule.methods else "POST"

        response = client.open(path, method=method)

        # Werkzeug answers 405 where a rule of another method has the path.
        assert response.status_code in {404, 405}, path
        if response.status_code == 404:
            assert "That page does not exist" in response.get_data(as_text=True)

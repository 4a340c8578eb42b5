"""Fixtures: the app on SQLite and PostgreSQL, a signing chain, APNs and SMTP."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from flask import g
from flask_migrate import upgrade
from sqlalchemy import update
from werkzeug.serving import make_server

from app import create_app
from app.demo import demo_design
from app.devchain import make_development_chain
from app.extensions import db
from app.merchants import create_merchant
from app.models import UpdateCounter
from app.passes import service
from tests.apns_standin import APNsStandIn, loopback_tls
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.smtp_server import SMTPServer

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "apple"
# Screenshots of pages whose browser test failed.
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-screenshots"
KEY_ENCRYPTION_KEY = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
PASS_TYPE_ID = "pass.test.passline.tickets"
TEAM_ID = "TESTTEAM01"
POSTGRES_URL = os.environ.get("PASSLINE_TEST_POSTGRES_URL")


def _database_params():
    params = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL or os.environ.get("PASSLINE_REQUIRE_POSTGRES"):
        params.append(pytest.param("postgres", id="postgres"))
    return params


@pytest.fixture(scope="session")
def chain():
    """A development chain: root, WWDR-like intermediate, pass type certificate."""
    return make_development_chain(PASS_TYPE_ID, TEAM_ID)


@pytest.fixture(scope="session")
def chain_files(chain, tmp_path_factory):
    folder = tmp_path_factory.mktemp("chain")
    for name, content in {
        "root.pem": chain.root_pem,
        "wwdr.pem": chain.wwdr_pem,
        "pass-type.pem": chain.certificate_pem,
        "pass-type-key.pem": chain.key_pem,
    }.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.fixture(scope="session")
def apns_server(chain, tmp_path_factory):
    """An APNs stand-in with a loopback certificate from a CA of its own."""
    tls = loopback_tls()
    ca_file = tmp_path_factory.mktemp("apns") / "ca.pem"
    ca_file.write_bytes(tls.ca_pem)
    standin = APNsStandIn(
        tls.certificate_pem,
        tls.key_pem,
        client_ca_pem=chain.root_pem + chain.wwdr_pem,
    )
    standin.ca_file = str(ca_file)
    with standin:
        yield standin


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A throwaway Redis server on loopback, for the RQ job queue."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("PASSLINE_REQUIRE_REDIS"):
            pytest.fail("PASSLINE_REQUIRE_REDIS is set but redis-server is missing")
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            *(binary, "--bind", "127.0.0.1", "--port", str(port)),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server on loopback that every test app sends its mail to."""
    with SMTPServer() as server:
        yield server


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


@pytest.fixture
def apns(apns_server):
    apns_server.clear()
    yield apns_server
    apns_server.clear()


_migrated: set[str] = set()


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path_factory):
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.fail("PASSLINE_REQUIRE_POSTGRES is set but not the URL")
        return POSTGRES_URL
    folder = tmp_path_factory.getbasetemp() / "sqlite"
    folder.mkdir(exist_ok=True)
    return f"sqlite:///{folder / 'passline.sqlite'}"


@pytest.fixture
def app(database_url, apns_server, smtp_server, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PUBLIC_URL": "https://passline.test",
            "APNS_HOST": apns_server.host,
            "APNS_PORT": apns_server.port,
            "APNS_CA_BUNDLE": apns_server.ca_file,
            "APNS_RETRY_DELAY": 0.01,
            "MAIL_SERVER": smtp_server.host,
            "MAIL_PORT": smtp_server.port,
            "MAIL_RETRY_DELAY": 0.01,
        },
        instance_path=str(tmp_path / "instance"),
    )
    with app.app_context():
        if database_url not in _migrated:
            upgrade()
            _migrated.add(database_url)
        _empty_tables()
        yield app
        app.extensions["passline.jobs"].join()
        app.extensions["passline.apns"].close()
        db.session.remove()
        # Each test's app has its own engine: close its connections now rather
        # than when collected, or PostgreSQL runs out of client slots.
        db.engine.dispose()


def _empty_tables():
    for table in reversed(db.metadata.sorted_tables):
        if table.name != "update_counter":
            db.session.execute(table.delete())
    db.session.execute(update(UpdateCounter).values(value=0))
    db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    """Return the CSRF token of the form the page at path shows."""
    # Requests made while the fixture's app context is pushed share its `g`,
    # where Flask-WTF caches the token of whichever client asked first.
    g.pop("csrf_token", None)
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


class Auth:
    """Signs users in and out through the real forms, CSRF included."""

    def __init__(self, client):
        self.client = client

    def login(self, email="owner@venue.test", password="correct horse", **kwargs):
        token = csrf_token(self.client, "/account/login")
        return self.client.post(
            "/account/login",
            data={"email": email, "password": password, "csrf_token": token},
            **kwargs,
        )

    def logout(self):
        token = csrf_token(self.client, "/dashboard/")
        return self.client.post("/account/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def merchant(app):
    return create_merchant("Test Venue", "owner@venue.test", "correct horse")


@pytest.fixture
def pass_type(merchant, chain):
    return service.create_pass_type(merchant, chain.identity())


@pytest.fixture
def template(pass_type):
    return service.create_template(pass_type, "Concert", demo_design())


@pytest.fixture
def issued_pass(template):
    return service.issue_pass(template, {"holder": "Ann", "seat": "A1", "gate": "3"})


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, started once for the whole run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh browser page; its screenshot is kept when the test fails."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for the page fixture."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on loopback, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()

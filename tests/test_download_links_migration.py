"""Migration 0005 moves each link's pass to download_link_passes, and back."""

import secrets
from datetime import datetime

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, make_url, text

from app import create_app
from app.extensions import db
from tests.conftest import KEY_ENCRYPTION_KEY

REVISION = "0005"
BEFORE = "0005-1"
NOW = datetime(2026, 3, 6, 8, 5, 52)


@pytest.fixture
def fresh_database(database_url, tmp_path):
    """An empty database of the same kind, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_migration_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_app(fresh_database, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
            "SQLALCHEMY_DATABASE_URI": fresh_database,
        },
        instance_path=str(tmp_path / "instance"),
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _run(sql: str, **values) -> list[tuple]:
    with db.engine.begin() as connection:
        result = connection.execute(text(sql), values)
        return [tuple(row) for row in result] if result.returns_rows else []


def _seed_passes() -> None:
    """Rows as the schema before 0005 holds them: three passes, two links."""
    _run(
        "INSERT INTO merchants (id, name, created_at) VALUES (1, 'Venue', :now)",
        now=NOW,
    )
    _run(
        "INSERT INTO pass_types (id, merchant_id, pass_type_identifier,"
        " team_identifier, certificate_pem, wwdr_certificate_pem,"
        " private_key_encrypted, certificate_expires_at, created_at)"
        " VALUES (1, 1, 'pass.test.x', 'TEAM', :blob, :blob, :blob, :now, :now)",
        blob=b"-",
        now=NOW,
    )
    _run(
        "INSERT INTO templates (id, merchant_id, pass_type_id, name, style, design,"
        " localizations, created_at, updated_at)"
        " VALUES (1, 1, 1, 'T', 'generic', '{}', '{}', :now, :now)",
        now=NOW,
    )
    for pass_id in (1, 2, 3):
        _run(
            "INSERT INTO passes (id, pass_type_id, template_id, serial_number,"
            " authentication_token, data, is_voided, update_tag, updated_at,"
            " created_at) VALUES (:id, 1, 1, :serial, 'token-token-token', '{}',"
            " false, :id, :now, :now)",
            id=pass_id,
            serial=f"S-{pass_id}",
            now=NOW,
        )
    for link_id, pass_id in ((1, 2), (2, 3)):
        _run(
            "INSERT INTO download_links (id, pass_id, token, created_at)"
            " VALUES (:id, :pass_id, :token, :now)",
            id=link_id,
            pass_id=pass_id,
            token=f"token-{link_id}",
            now=NOW,
        )


def test_upgrade_moves_each_pass_and_downgrade_brings_it_back(fresh_app):
    upgrade(revision=BEFORE)
    _seed_passes()

    upgrade(revision=REVISION)

    columns = {c["name"] for c in inspect(db.engine).get_columns("download_links")}
    assert "pass_id" not in columns
    assert _run(
        "SELECT link_id, pass_id, position FROM download_link_passes ORDER BY link_id"
    ) == [(1, 2, 0), (2, 3, 0)]
    # An order link added after the upgrade, and the cascade from its link.
    _run(
        "INSERT INTO download_links (id, token, created_at) VALUES (3, 't3', :now)",
        now=NOW,
    )
    _run(
        "INSERT INTO download_link_passes (link_id, pass_id, position)"
        " VALUES (3, 1, 0), (3, 2, 1)"
    )
    _run(
        "INSERT INTO download_links (id, token, created_at) VALUES (4, 't4', :now)",
        now=NOW,
    )
    _run("INSERT INTO download_link_passes VALUES (4, 3, 0)")
    _run("DELETE FROM download_links WHERE id = 4")
    assert _run("SELECT count(*) FROM download_link_passes WHERE link_id = 4") == [(0,)]

    downgrade(revision=BEFORE)

    assert "download_link_passes" not in inspect(db.engine).get_table_names()
    rows = _run(
        "SELECT id, pass_id, token, revoked_at IS NOT NULL FROM download_links"
        " ORDER BY id"
    )
    # The order link keeps its first pass and is withdrawn, not half-served.
    assert rows == [
        (1, 2, "token-1", False),
        (2, 3, "token-2", False),
        (3, 1, "t3", True),
    ]
    pass_id = next(
        c
        for c in inspect(db.engine).get_columns("download_links")
        if c["name"] == "pass_id"
    )
    assert pass_id["nullable"] is False
    foreign_keys = inspect(db.engine).get_foreign_keys("download_links")
    assert [(k["constrained_columns"], k["referred_table"]) for k in foreign_keys] == [
        (["pass_id"], "passes")
    ]
    _run("DELETE FROM passes WHERE id = 3")
    assert _run("SELECT id FROM download_links ORDER BY id") == [(1,), (3,)]

    upgrade(revision=REVISION)

    assert _run(
        "SELECT link_id, pass_id, position FROM download_link_passes ORDER BY link_id"
    ) == [(1, 2, 0), (3, 1, 0)]

"""The migrations: they build what the models describe, and step back down cleanly.

Each test migrates a database of its own (a SQLite file, or a PostgreSQL schema),
so the shared test database keeps its tables.
"""

import secrets
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import KEY_ENCRYPTION_KEY, POSTGRES_URL

NOW = datetime(2026, 12, 4, 12, 0, 0)


@pytest.fixture
def empty_database(database_url, tmp_path):
    """The URL of an empty database of the parametrized kind."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    schema = f"migrations_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(POSTGRES_URL).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def migration_app(empty_database, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
            "SQLALCHEMY_DATABASE_URI": empty_database,
            "PUBLIC_URL": "https://passline.test",
        },
        instance_path=str(tmp_path / "instance"),
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _differences() -> list:
    """Return what autogenerate would change to make the database fit the models."""
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns(table)}


def test_migrations_build_what_the_models_describe(migration_app):
    upgrade()

    assert _differences() == []
    assert _tables() == {table.name for table in db.metadata.sorted_tables} | {
        "alembic_version"
    }


def test_every_migration_steps_down_and_up_again(migration_app):
    upgrade()

    downgrade(revision="base")

    assert _tables() <= {"alembic_version"}
    upgrade()
    assert _differences() == []


def _seed_at_0003() -> int:
    """Insert a pass with a signed bundle and a log line; return the pass's id."""
    tables = sa.MetaData()
    tables.reflect(bind=db.engine)
    with db.engine.begin() as connection:
        merchant_id = connection.execute(
            tables.tables["merchants"]
            .insert()
            .values(name="Venue", created_at=NOW)
            .returning(sa.column("id"))
        ).scalar_one()
        pass_type_id = connection.execute(
            tables.tables["pass_types"]
            .insert()
            .values(
                merchant_id=merchant_id,
                pass_type_identifier="pass.test.migrations",
                team_identifier="TESTTEAM01",
                certificate_pem=b"certificate",
                wwdr_certificate_pem=b"wwdr",
                private_key_encrypted=b"key",
                certificate_expires_at=NOW,
                created_at=NOW,
            )
            .returning(sa.column("id"))
        ).scalar_one()
        template_id = connection.execute(
            tables.tables["templates"]
            .insert()
            .values(
                merchant_id=merchant_id,
                pass_type_id=pass_type_id,
                name="Concert",
                style="eventTicket",
                design={},
                localizations={},
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(sa.column("id"))
        ).scalar_one()
        pass_id = connection.execute(
            tables.tables["passes"]
            .insert()
            .values(
                pass_type_id=pass_type_id,
                template_id=template_id,
                serial_number="S-1",
                authentication_token="t" * 32,
                data={"holder": "Ann"},
                is_voided=False,
                update_tag=1,
                updated_at=NOW,
                created_at=NOW,
            )
            .returning(sa.column("id"))
        ).scalar_one()
        connection.execute(
            tables.tables["signed_bundles"]
            .insert()
            .values(pass_id=pass_id, update_tag=1, content=b"zip", signed_at=NOW)
        )
        connection.execute(
            tables.tables["wallet_log_entries"]
            .insert()
            .values(pass_id=pass_id, message="a line", received_at=NOW)
        )
    return pass_id


def test_removals_and_customer_email_step_down_keeping_the_passes(migration_app):
    upgrade(revision="0003")
    pass_id = _seed_at_0003()
    upgrade(revision="0004")
    with db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE passes SET customer_email = 'ann@venue.example'")
        )
        connection.execute(
            sa.text(
                "INSERT INTO registration_removals "
                "(pass_id, library_identifier, reason, removed_at) "
                "VALUES (:pass_id, 'device-1', 'unregistered', :now)"
            ),
            {"pass_id": pass_id, "now": NOW},
        )

    downgrade(revision="0003")

    assert "registration_removals" not in _tables()
    assert "customer_email" not in _columns("passes")
    # Dropping the column must not drop and refill the passes table: on SQLite
    # that would cascade to the rows that refer to the passes.
    with db.engine.connect() as connection:
        assert connection.execute(
            sa.text("SELECT pass_id FROM signed_bundles")
        ).scalars().all() == [pass_id]
        assert connection.execute(
            sa.text("SELECT pass_id FROM wallet_log_entries")
        ).scalars().all() == [pass_id]
    upgrade(revision="0004")
    assert "customer_email" in _columns("passes")

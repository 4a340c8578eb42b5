"""The audit trail of security-relevant changes."""

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry


def _entries():
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.subject, e.actor, e.merchant_id) for e in rows]


def test_commands_leave_an_audit_trail(runner, chain_files):
    created = runner.invoke(
        args=["create-merchant", "Venue", "Boss@Venue.test", "--password", "pw"]
    )
    imported = runner.invoke(
        args=[
            "import-pass-type",
            "boss@venue.test",
            "--cert",
            str(chain_files / "pass-type.pem"),
            "--key",
            str(chain_files / "pass-type-key.pem"),
            "--wwdr",
            str(chain_files / "wwdr.pem"),
        ]
    )

    assert (created.exit_code, imported.exit_code) == (0, 0)
    merchant_id = _entries()[0][3]
    assert _entries() == [
        ("merchant.created", "boss@venue.test", "cli", merchant_id),
        ("pass_type.added", "pass.test.passline.tickets", "cli", merchant_id),
    ]


def test_voiding_a_pass_is_audited_once(runner, issued_pass):
    serial = issued_pass.serial_number
    pass_type_id = issued_pass.pass_type.pass_type_identifier
    merchant_id = issued_pass.pass_type.merchant_id
    before = _entries()

    voided = runner.invoke(args=["update-pass", pass_type_id, serial, "--void"])
    again = runner.invoke(args=["update-pass", pass_type_id, serial, "--void"])

    assert (voided.exit_code, again.exit_code) == (0, 0)
    assert _entries()[len(before) :] == [("pass.voided", serial, "cli", merchant_id)]


def test_a_refused_change_leaves_no_entry(runner, issued_pass):
    before = _entries()

    result = runner.invoke(
        args=[
            "update-pass",
            issued_pass.pass_type.pass_type_identifier,
            issued_pass.serial_number,
            "--void",
            "--data",
            '{"holder": "A"}',
        ]
    )

    assert result.exit_code == 1
    assert "no value for the placeholder {{gate}}" in result.output
    assert _entries() == before

"""Admin commands: `flask <command> --help` describes each."""

import functools
import json
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from app import demo, jobs
from app.certificates import (
    CertificateError,
    build_identity,
    load_certificate,
    load_p12,
    load_pem_key,
)
from app.devchain import NOT_FOR_DEVICES, make_development_chain
from app.downloads.links import create_link, link_url
from app.extensions import db
from app.mail.cli import email_links_resume
from app.merchants import EmailTaken, create_merchant, find_user
from app.models import Pass, PassType, Template
from app.passes import service
from app.passes.bundle import PassDataError
from app.passes.importer import PassImportError, import_design
from app.passes.validation import PassValidationError
from app.webhooks.cli import webhooks_retry

USER_ERRORS = (
    CertificateError,
    EmailTaken,
    PassDataError,
    PassImportError,
    PassValidationError,
    service.PassTypeTaken,
    service.SerialTaken,
)


def register_commands(app: Flask) -> None:
    """Make every Passline command available as `flask <command>`."""
    for command in (
        dev_chain,
        create_merchant_command,
        import_pass_type,
        import_template,
        list_templates,
        issue_pass,
        update_pass,
        demo_command,
        jobs_worker,
        email_links_resume,
        webhooks_retry,
    ):
        app.cli.add_command(command)


def _fail_clearly(function):
    """Turn the domain's user-facing errors into click errors (exit code 1)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(
                "The database is not ready: run `flask db upgrade` (make run does)."
            ) from exc

    return wrapper


def _pass_type(identifier: str) -> PassType:
    pass_type = db.session.scalar(
        select(PassType).filter_by(pass_type_identifier=identifier)
    )
    if pass_type is None:
        raise click.ClickException(f"No pass type {identifier} is set up here.")
    return pass_type


def _pass_data(data: str | None, pairs: tuple[str, ...]) -> dict:
    """Merge --data (a JSON object) with --set KEY=VALUE pairs; the pairs win."""
    values = {}
    if data:
        try:
            values = json.loads(data)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from exc
        if not isinstance(values, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--data")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        values[key] = value
    return values


@click.command("dev-chain")
@click.option("--pass-type-id", default="pass.dev.passline.example", show_default=True)
@click.option("--team-id", default="PASSLINE01", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--p12-password", help="Also write pass-type.p12 with this password.")
def dev_chain(pass_type_id, team_id, out_dir, p12_password):
    """Make a development signing chain (root, WWDR-like, pass type certificate).

    Passes it signs verify against root.pem but are not installable on a real
    iPhone, which trusts only Apple's WWDR.
    """
    chain = make_development_chain(pass_type_id, team_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "root.pem": chain.root_pem,
        "wwdr.pem": chain.wwdr_pem,
        "pass-type.pem": chain.certificate_pem,
        "pass-type-key.pem": chain.key_pem,
    }
    if p12_password:
        files["pass-type.p12"] = pkcs12.serialize_key_and_certificates(
            pass_type_id.encode(),
            load_pem_key(chain.key_pem),
            load_certificate(chain.certificate_pem),
            None,
            serialization.BestAvailableEncryption(p12_password.encode()),
        )
    for name, content in files.items():
        path = out_dir / name
        path.write_bytes(content)
        if name.endswith(("key.pem", ".p12")):
            path.chmod(0o600)  # the private key: readable by its owner only
    click.echo(f"{NOT_FOR_DEVICES}: wrote {', '.join(files)} to {out_dir}")


@click.command("create-merchant")
@click.argument("name")
@click.argument("email")
@click.password_option()
@with_appcontext
@_fail_clearly
def create_merchant_command(name, email, password):
    """Create a merchant NAME with a user who signs in as EMAIL."""
    merchant = create_merchant(name, email, password, actor="cli")
    click.echo(f"merchant {merchant.id} created; sign in as {email}")


@click.command("import-pass-type")
@click.argument("email")
@click.option("--p12", type=click.Path(exists=True, path_type=Path))
@click.option("--password", default="", help="Password of the .p12 or the PEM key.")
@click.option("--cert", type=click.Path(exists=True, path_type=Path))
@click.option("--key", type=click.Path(exists=True, path_type=Path))
@click.option("--wwdr", type=click.Path(exists=True, path_type=Path), required=True)
@with_appcontext
@_fail_clearly
def import_pass_type(email, p12, password, cert, key, wwdr):
    """Add a Pass Type ID certificate to the merchant of user EMAIL.

    Give either --p12 (with --password) or --cert and --key, plus the WWDR
    certificate that issued it. The pass type and team ids are read from the
    certificate's UID and OU.
    """
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No user signs in as {email}.")
    if p12 and (cert or key):
        raise click.UsageError("Give --p12, or --cert and --key, not both.")
    if p12:
        certificate, private_key = load_p12(p12.read_bytes(), password)
    elif cert and key:
        certificate = load_certificate(cert.read_bytes())
        private_key = load_pem_key(key.read_bytes(), password or None)
    else:
        raise click.UsageError("Give --p12, or --cert and --key.")

    identity = build_identity(
        certificate, private_key, load_certificate(wwdr.read_bytes())
    )
    pass_type = service.create_pass_type(user.merchant, identity, actor="cli")
    click.echo(
        f"pass type {pass_type.pass_type_identifier} (team "
        f"{pass_type.team_identifier}) added; certificate expires "
        f"{pass_type.certificate_expires_at:%Y-%m-%d}"
    )


@click.command("import-template")
@click.argument("pass_type_id")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Template name; defaults to the pass's description.")
@with_appcontext
@_fail_clearly
def import_template(pass_type_id, source, name):
    """Make a template of PASS_TYPE_ID from SOURCE, a .pkpass or .pass folder."""
    pass_type = _pass_type(pass_type_id)
    imported = import_design(source)
    name = name or imported.design.get("description") or source.stem
    template = service.create_template(pass_type, name, imported)
    click.echo(f"template {template.id} ({template.style}) created: {name}")
    for path in imported.skipped:
        click.echo(f"skipped {path}: not a file Wallet accepts", err=True)


@click.command("list-templates")
@with_appcontext
@_fail_clearly
def list_templates():
    """List every template with its id, pass type, style and pass count."""
    rows = db.session.execute(
        select(
            Template.id,
            PassType.pass_type_identifier,
            Template.style,
            Template.name,
            func.count(Pass.id),
        )
        .join(Template.pass_type)
        .outerjoin(Pass, Pass.template_id == Template.id)
        .group_by(Template.id, PassType.pass_type_identifier)
        .order_by(Template.id)
    ).all()
    if not rows:
        click.echo("no templates yet: flask import-template PASS_TYPE_ID SOURCE")
    for template_id, pass_type_id, style, name, count in rows:
        click.echo(
            f"{template_id:>5}  {pass_type_id}  {style:<12} {count:>7} passes  {name}"
        )


def _checked_email(_context, _param, value: str | None) -> str | None:
    """Refuse a malformed --email with email-validator's reason."""
    if not value:
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@click.command("issue-pass")
@click.argument("template_id", type=int)
@click.option("--data", help="Pass data as a JSON object.")
@click.option("--set", "pairs", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--serial", help="Serial number; a random one by default.")
@click.option(
    "--email",
    callback=_checked_email,
    help="The customer's email address, kept with the pass (nothing is sent).",
)
@with_appcontext
@_fail_clearly
def issue_pass(template_id, data, pairs, serial, email):
    """Issue a pass of TEMPLATE_ID and print its serial and download URL."""
    template = db.session.get(Template, template_id)
    if template is None:
        raise click.ClickException(f"No template {template_id}.")
    pass_ = service.issue_pass(
        template, _pass_data(data, pairs), serial, customer_email=email
    )
    link = create_link(pass_)
    click.echo(f"serial: {pass_.serial_number}")
    click.echo(f"download: {link_url(link)}")


@click.command("update-pass")
@click.argument("pass_type_id")
@click.argument("serial")
@click.option("--data", help="The new pass data as a JSON object (replaces it).")
@click.option("--set", "pairs", multiple=True, help="KEY=VALUE to change.")
@click.option("--void", is_flag=True, help="Void the pass.")
@with_appcontext
@_fail_clearly
def update_pass(pass_type_id, serial, data, pairs, void):
    """Change a pass's data, re-sign it and push to its devices."""
    pass_type = _pass_type(pass_type_id)
    pass_ = db.session.scalar(
        select(Pass).filter_by(pass_type_id=pass_type.id, serial_number=serial)
    )
    if pass_ is None:
        raise click.ClickException(f"No pass {serial} of {pass_type_id}.")
    values = _pass_data(data, ()) if data else dict(pass_.data)
    values.update(_pass_data(None, pairs))
    service.update_pass(pass_, values, is_voided=True if void else None, actor="cli")
    click.echo(f"pass {serial} updated; pushing to its devices")
    jobs.join()


@click.command("demo")
@with_appcontext
@_fail_clearly
def demo_command():
    """Seed a demo merchant signed with a development chain (once), and print it."""
    link, created = demo.seed(Path(current_app.instance_path) / "dev-chain")
    if created:
        click.echo("demo merchant created")
    click.echo(f"demo login: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
    click.echo(f"demo pass:  {link_url(link)}")
    click.echo(f"({NOT_FOR_DEVICES}; it verifies against instance/dev-chain/root.pem)")


@click.command("jobs-worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
@_fail_clearly
def jobs_worker(burst):
    """Run background jobs from Redis (needs JOB_QUEUE = "rq")."""
    try:
        jobs.run_worker(current_app._get_current_object(), burst=burst)
    except RedisError as exc:
        url = current_app.config["REDIS_URL"]
        raise click.ClickException(f"Cannot reach Redis at {url}: {exc}") from exc
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc

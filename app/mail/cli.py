"""`flask email-links-resume`: finish a batch of emails a stopped process left."""

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.mail.batches import run_mail_batch
from app.models import MailBatch


@click.command("email-links-resume")
@click.argument("batch_id", type=int)
@with_appcontext
def email_links_resume(batch_id: int) -> None:
    """Send the emails of batch BATCH_ID still queued, in this process.

    For a batch whose job was lost, such as by a restart with JOB_QUEUE =
    "thread"; emails already sent or failed are left alone.
    """
    batch = db.session.get(MailBatch, batch_id)
    if batch is None:
        raise click.ClickException(f"No mail batch {batch_id}.")

    run_mail_batch(batch.id)

    db.session.refresh(batch)
    click.echo(f"batch {batch.id}: {batch.sent} sent, {batch.failed} failed")

"""`flask webhooks-retry`: send the webhook deliveries that are due."""

import time

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.webhooks.delivery import deliver_due


@click.command("webhooks-retry")
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    help="Keep running, looking for due deliveries every this many seconds.",
)
@with_appcontext
def webhooks_retry(every: float | None) -> None:
    """Send the webhook deliveries that are due, such as retries after a restart.

    Run it from cron every minute, or once with --every beside the server.
    """
    while True:
        counts = deliver_due(arm_timer=False)
        if counts or not every:
            click.echo(
                f"{counts['delivered']} delivered, {counts['pending']} to retry, "
                f"{counts['failed']} failed"
            )
        if not every:
            return
        # Give the connection back between sweeps.
        db.session.remove()
        time.sleep(every)

"""Measure a mail batch in emails per second: per chunk (today) against per delivery.

run_mail_batch loads a chunk's deliveries, passes, templates and links in a
few queries, makes the missing links in one flush and stores outcomes
RECORD_EVERY per commit. one_by_one below is the way it worked before, kept
here only to compare: each delivery loaded by its id, its link looked up (and
made) on its own, its outcome committed on its own. Both send over one SMTP
connection per chunk of CHUNK emails to aiosmtpd in a child process
(bench/smtp_server.py), so the figures are Passline's and not the server's.

Two kinds of passes: ones issued in bulk, whose links the batch reuses, and
ones whose links were deleted, so every email needs a new link.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import delete, or_, select

from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import create_link, link_url
from app.extensions import db, mailer
from app.mail import batches, run_mail_batch, start_mail_batch
from app.mail.compose import link_email
from app.models import (
    MAIL_QUEUED,
    MAIL_SENT,
    DownloadLink,
    DownloadLinkPass,
    MailBatch,
    MailDelivery,
    Merchant,
    Pass,
    Template,
    utcnow,
)
from app.passes import service
from app.passes.bulk.rows import PassRow, issue_passes
from bench.bench_app import make_app, make_pass_type
from bench.pass_list import PASS_TYPE_ID, TEAM_ID
from bench.smtp_server import SMTPProcess

ROUNDS = 3
ID_CHUNK = 500


class HeldJobs:
    """A job queue that keeps jobs instead of running them, for the bench to time."""

    def __init__(self) -> None:
        self.held: list[tuple[str, tuple]] = []

    def enqueue(self, path: str, *args) -> None:
        self.held.append((path, args))

    def join(self) -> None:
        pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Email the links of N passes to a loopback SMTP server in a child "
            "process, per chunk (run_mail_batch) and per delivery (the way "
            "before), for passes with links to reuse and passes without."
        )
    )
    parser.add_argument("--rows", type=int, help="passes per batch (2000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 passes")
    parser.add_argument(
        "--record-every",
        type=int,
        help=f"outcomes per commit in run_mail_batch ({batches.RECORD_EVERY})",
    )
    parser.add_argument(
        "--database-url",
        help="an empty database to fill instead of a fresh SQLite file "
        "(PostgreSQL, say); the migrations create the tables",
    )
    args = parser.parse_args()
    if args.rows is None:
        args.rows = 200 if args.quick else 2_000
    if args.rows < 1 or (args.record_every is not None and args.record_every < 1):
        parser.error("--rows and --record-every must be at least 1")
    return args


def one_by_one(batch_id: int) -> None:
    """Send the batch a delivery at a time, as run_mail_batch did before.

    Retrying a lost connection and recording refusals are left out: the
    server here accepts everything.
    """
    batch = db.session.get(MailBatch, batch_id)
    merchant = db.session.get(Merchant, batch.merchant_id)
    queued = (
        select(MailDelivery.id)
        .where(MailDelivery.batch_id == batch_id, MailDelivery.status == MAIL_QUEUED)
        .order_by(MailDelivery.id)
        .limit(batches.CHUNK)
    )
    while chunk := list(db.session.scalars(queued)):
        connection = mailer.get_connection()
        connection.open()
        for delivery_id in chunk:
            delivery = db.session.get(MailDelivery, delivery_id)
            link = _link_for(delivery.pass_)
            url = link_url(link)
            message = link_email(delivery.pass_, merchant, delivery.email, url)
            connection.send_messages([message])
            delivery.status, delivery.link_id = MAIL_SENT, link.id
            delivery.sent_at = utcnow()
            batch.sent = MailBatch.sent + 1
            db.session.commit()
        connection.close()
    batch.finished_at = utcnow()
    db.session.commit()


def _link_for(pass_: Pass) -> DownloadLink:
    candidates = db.session.scalars(
        select(DownloadLink)
        .join(DownloadLink.items)
        .where(
            DownloadLinkPass.pass_id == pass_.id,
            DownloadLink.revoked_at.is_(None),
            or_(
                DownloadLink.expires_at.is_(None),
                DownloadLink.expires_at > utcnow() + batches.LINK_MIN_LIFETIME,
            ),
        )
        .order_by(DownloadLink.id.desc())
        .limit(20)
    )
    for link in candidates:
        if len(link.items) == 1:
            return link
    return create_link(pass_)


WAYS: dict[str, Callable[[int], None]] = {
    "per delivery (before)": one_by_one,
    "per chunk (run_mail_batch)": run_mail_batch,
}


def issue(template: Template, count: int, prefix: str) -> list[int]:
    """Issue passes with an email each, in bulk; return their ids."""
    rows = [
        PassRow(
            line=number + 2,
            data={"holder": f"Guest {number}", "seat": "A 1", "gate": "3"},
            serial_number=f"{prefix}-{number}",
            customer_email=f"guest{number}@example.com",
        )
        for number in range(count)
    ]
    issue_passes(template, rows)
    return [row.pass_id for row in rows]


def drop_links(pass_ids: list[int]) -> None:
    """Delete the passes' links, so a batch has to make new ones."""
    for start in range(0, len(pass_ids), ID_CHUNK):
        of_passes = select(DownloadLinkPass.link_id).where(
            DownloadLinkPass.pass_id.in_(pass_ids[start : start + ID_CHUNK])
        )
        db.session.execute(delete(DownloadLink).where(DownloadLink.id.in_(of_passes)))
    db.session.commit()


def time_batch(
    held: HeldJobs, way: Callable[[int], None], merchant_id: int, pass_ids: list[int]
) -> float:
    """Start a batch of the passes and time sending it the given way."""
    start_mail_batch(merchant_id, pass_ids, "bench")
    [(_, (batch_id,))] = held.held
    held.held.clear()
    db.session.remove()

    start = time.perf_counter()
    way(batch_id)
    seconds = time.perf_counter() - start

    batch = db.session.get(MailBatch, batch_id)
    if (batch.sent, batch.failed) != (len(pass_ids), 0):
        raise SystemExit(f"batch {batch_id}: {batch.sent} sent, {batch.failed} failed")
    db.session.remove()
    return seconds


def prepare(rows: int) -> tuple[int, dict[str, list[int]]]:
    """Create the tables, a merchant and the passes of each case."""
    upgrade()
    pass_type = make_pass_type(make_development_chain(PASS_TYPE_ID, TEAM_ID))
    template = service.create_template(pass_type, "Gala", demo_design())
    cases = {
        "links to reuse": issue(template, rows, "reuse"),
        "links to make": issue(template, rows, "make"),
    }
    merchant_id = pass_type.merchant_id
    db.session.remove()
    return merchant_id, cases


def measure(
    held: HeldJobs, merchant_id: int, cases: dict[str, list[int]]
) -> dict[tuple[str, str], list[float]]:
    """Time a batch per case and way each round, the ways interleaved."""
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for case, pass_ids in cases.items():
            for way_name, way in WAYS.items():
                if case == "links to make":
                    drop_links(pass_ids)
                seconds = time_batch(held, way, merchant_id, pass_ids)
                times.setdefault((case, way_name), []).append(seconds)
    return times


def run(args: argparse.Namespace) -> None:
    if args.record_every:
        batches.RECORD_EVERY = args.record_every
    held = HeldJobs()
    with (
        tempfile.TemporaryDirectory(prefix="passline-bench-") as name,
        SMTPProcess() as smtp,
    ):
        settings = {"MAIL_SERVER": smtp.host, "MAIL_PORT": smtp.port}
        if args.database_url:
            settings["SQLALCHEMY_DATABASE_URI"] = args.database_url
        app = make_app(Path(name), **settings)
        app.extensions["passline.jobs"] = held
        with app.app_context():
            merchant_id, cases = prepare(args.rows)
            times = measure(held, merchant_id, cases)
            db.session.remove()
        received = smtp.received
    database = "postgresql" if args.database_url else "sqlite"
    report(args.rows, database, times, received)


def report(rows: int, database: str, times: dict, received: int) -> None:
    print(
        f"mail batch bench on {database}: {rows} emails per batch, CHUNK "
        f"{batches.CHUNK}, RECORD_EVERY {batches.RECORD_EVERY}, aiosmtpd on "
        f"loopback in a child process; median of {ROUNDS}"
    )
    print(f"{'case':<16}{'way':<30}{'seconds':>10}{'emails/s':>10}")
    medians = {key: statistics.median(values) for key, values in times.items()}
    for (case, way_name), seconds in medians.items():
        print(f"{case:<16}{way_name:<30}{seconds:>10.2f}{rows / seconds:>10.0f}")
    before, after = WAYS
    for case in dict.fromkeys(case for case, _ in medians):
        ratio = medians[case, before] / medians[case, after]
        print(f"  {case}: per chunk is {ratio:.1f}x per delivery")
    expected = rows * sum(len(values) for values in times.values())
    print(f"  server received {received} of {expected} emails")
    if received != expected:
        raise SystemExit("the server did not receive every email once")


if __name__ == "__main__":
    run(parse_args())

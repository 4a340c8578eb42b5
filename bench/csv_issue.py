"""Measure issuing 10,000 passes from one CSV and emailing each its link.

The bench goes the merchant's way: it uploads the CSV to the dashboard and
asks to create the passes and email them; a background job issues the rows a
chunk at a time (app.passes.bulk.rows), then a mail batch sends each link to
an SMTP server on loopback (aiosmtpd, in a child process so that it does not
share our GIL and the figure is Passline's). It then compares the bulk path with
issuing the same number of rows one by one through issue_pass and a link each.
"""

import argparse
import csv
import io
import re
import statistics
import tempfile
import time
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from app import jobs
from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import create_link
from app.extensions import db
from app.models import BulkImport, MailBatch, Pass, Template
from app.passes import service
from app.passes.bulk.rows import PassRow, issue_passes
from bench.bench_app import make_app, make_pass_type
from bench.pass_list import CSRF, PASS_TYPE_ID, TEAM_ID, signed_in_client
from bench.smtp_server import SMTPProcess

ROUNDS = 3
NAMES = ["Zoë Ångström", "李雷", "Ann Lee", "José Núñez", "Ōta Hiroshi", "Søren Kierk"]
IMPORT_PAGE = re.compile(r"/dashboard/bulk-imports/(\d+)$")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Upload a CSV of passes to the dashboard, create them all and email "
            "each its link to a loopback SMTP server; then time issuing rows in "
            "bulk against one by one."
        )
    )
    parser.add_argument("--rows", type=int, help="rows in the CSV (10000)")
    parser.add_argument(
        "--compare", type=int, help="rows per round of bulk against one by one (1000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 rows")
    args = parser.parse_args()
    if args.rows is None:
        args.rows = 500 if args.quick else 10_000
    if args.compare is None:
        args.compare = 100 if args.quick else 1_000
    if args.rows < 1 or args.compare < 1:
        parser.error("--rows and --compare must be at least 1")
    return args


def guest_csv(count: int, prefix: str) -> bytes:
    """Return a CSV of guests as a spreadsheet saves it: UTF-8 with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Serial", "Holder", "Seat", "Gate", "Email"])
    for number in range(count):
        writer.writerow(
            [
                f"{prefix}-{number}",
                f"{NAMES[number % len(NAMES)]} {number}",
                f"{chr(65 + number % 26)} {number % 40}",
                str(number % 12),
                f"guest{number}@example.com",
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode()


def issue_from_dashboard(app: Flask, content: bytes, template_id: int) -> dict:
    """Upload the CSV, create its passes with emails, wait for everything."""
    client = signed_in_client(app)
    page = f"/dashboard/templates/{template_id}/bulk"
    token = CSRF.search(client.get(page).get_data(as_text=True)).group(1)
    start = time.perf_counter()
    uploaded = client.post(
        page,
        data={"csrf_token": token, "csv_file": (io.BytesIO(content), "guests.csv")},
        content_type="multipart/form-data",
    )
    upload = time.perf_counter() - start
    found = IMPORT_PAGE.search(uploaded.headers.get("Location", ""))
    if found is None:
        raise SystemExit(f"the upload answered {uploaded.status_code}")
    import_id = int(found.group(1))

    start = time.perf_counter()
    answer = client.post(
        f"/dashboard/bulk-imports/{import_id}/run",
        data={"csrf_token": token, "action": "create", "email_passes": "y"},
    )
    request = time.perf_counter() - start
    if answer.status_code != 302:
        raise SystemExit(f"creating answered {answer.status_code}")
    with app.app_context():
        jobs.join()
        wall = time.perf_counter() - start
        bulk_import = db.session.get(BulkImport, import_id)
        if bulk_import.mail_batch_id is None:
            raise SystemExit(
                f"no emails: {bulk_import.refused} rows refused, {bulk_import.problem}"
            )
        batch = db.session.get(MailBatch, bulk_import.mail_batch_id)
        figures = {
            "upload": upload,
            "request": request,
            "wall": wall,
            "issue": (bulk_import.finished_at - bulk_import.started_at).total_seconds(),
            "email": (batch.finished_at - batch.started_at).total_seconds(),
            "accepted": bulk_import.accepted,
            "refused": bulk_import.refused,
            "sent": batch.sent,
            "failed": batch.failed,
        }
        db.session.remove()
    return figures


def one_by_one(template: Template, rows: list[PassRow]) -> None:
    """Issue each row as the dashboard's single-pass form does: a pass, a link."""
    for row in rows:
        pass_ = service.issue_pass(
            template,
            row.data,
            row.serial_number,
            customer_email=row.customer_email,
        )
        create_link(pass_)


def in_bulk(template: Template, rows: list[PassRow]) -> None:
    issue_passes(template, rows)


def compare(template: Template, count: int) -> dict[str, float]:
    """Median seconds per round of each way, rounds interleaved, new serials each."""
    ways = {"issue_passes (chunks of 500)": in_bulk, "issue_pass + link": one_by_one}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for round_number in range(ROUNDS):
        for index, (name, way) in enumerate(ways.items()):
            rows = [
                PassRow(
                    line=number + 2,
                    data={"holder": f"Guest {number}", "seat": "A 1", "gate": "3"},
                    serial_number=f"cmp-{round_number}-{index}-{number}",
                    customer_email=f"guest{number}@example.com",
                )
                for number in range(count)
            ]
            start = time.perf_counter()
            way(template, rows)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run(args: argparse.Namespace) -> None:
    chain = make_development_chain(PASS_TYPE_ID, TEAM_ID)
    content = guest_csv(args.rows, "csv")
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as name:
        folder = Path(name)
        with SMTPProcess() as smtp:
            app = make_app(
                folder,
                JOB_QUEUE="thread",
                MAIL_SERVER=smtp.host,
                MAIL_PORT=smtp.port,
                MAIL_DEFAULT_SENDER="Bench Venue <passes@passline.bench>",
            )
            with app.app_context():
                upgrade()
                pass_type = make_pass_type(chain)
                template = service.create_template(pass_type, "Gala", demo_design())
                other = service.create_template(pass_type, "Compare", demo_design())
                template_id, other_id = template.id, other.id
                db.session.remove()

            figures = issue_from_dashboard(app, content, template_id)
            figures["received"] = smtp.received

            with app.app_context():
                figures["created"] = db.session.scalar(
                    select(func.count(Pass.id)).filter_by(template_id=template_id)
                )
                figures["compare"] = compare(
                    db.session.get(Template, other_id), args.compare
                )
                db.session.remove()
    report(args, len(content), figures)


def report(args: argparse.Namespace, size: int, figures: dict) -> None:
    rows = args.rows
    print(
        f"csv issue bench on sqlite: {rows} rows, {size / 1024:.0f} KB CSV, "
        f"emails to aiosmtpd on loopback in a child process"
    )
    print(f"{'measure':<44}{'seconds':>10}{'rows/s':>10}")
    for label, key in [
        ("POST .../bulk (upload, read, guess columns)", "upload"),
        ("POST .../run (answer, job queued)", "request"),
        ("issue: check and create every row", "issue"),
        ("email: the mail batch, first to last", "email"),
        ("create and email, from the click", "wall"),
    ]:
        seconds = figures[key]
        # The create request only queues the job: a rate would mean nothing.
        rate = f"{rows / seconds:.0f}" if seconds and key != "request" else ""
        print(f"{label:<44}{seconds:>10.2f}{rate:>10}")
    print(
        f"  passes created {figures['created']}, refused {figures['refused']}; "
        f"emails sent {figures['sent']}, failed {figures['failed']}, "
        f"server received {figures['received']}"
    )
    print(f"issuing {args.compare} rows, median of {ROUNDS}:")
    for name, seconds in figures["compare"].items():
        print(f"  {name:<42}{seconds:>10.3f}{args.compare / seconds:>10.0f}")
    bulk, each = figures["compare"].values()
    print(f"  {'ratio one-by-one / bulk':<42}{each / bulk:>9.1f}x")
    if not figures["created"] == figures["sent"] == figures["received"] == rows:
        raise SystemExit("not every row became a pass emailed once")


if __name__ == "__main__":
    run(parse_args())

"""Bulk imports: a CSV kept between upload, mapping and the run that issues it.

Choosing the columns checks the rows once and stores the preview with the
import, so showing the page reads no file. A run checks (dry run) or issues
every row through app.passes.bulk.rows, counting its progress on the
BulkImport row, and keeps the refused rows with their errors. Small files run
in the request; larger ones in a background job.
"""

import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from app import jobs
from app.extensions import db
from app.mail import start_mail_batch
from app.models import (
    BULK_CHECKED,
    BULK_CHECKING,
    BULK_FAILED,
    BULK_FINISHED,
    BULK_RUNNING,
    BULK_UPLOADED,
    BulkImport,
    Template,
    utcnow,
)
from app.passes.bulk.csv_file import (
    CsvFile,
    CsvLayout,
    Mapping,
    guess_mapping,
    mapped_rows,
    mapping_errors,
    read_csv,
)
from app.passes.bulk.rows import PassRow, check_rows, issue_passes
from app.passes.bundle import data_placeholders

log = logging.getLogger(__name__)

# Files of up to this many rows run in the request; larger ones in a job.
INLINE_ROWS = 500
# States in which the mapping may change and a run may start.
OPEN = (BULK_UPLOADED, BULK_CHECKED)
RUNNING = (BULK_CHECKING, BULK_RUNNING)
MAX_FILENAME = 255
# Rows shown checked in the preview.
PREVIEW_ROWS = 20
# Up to this many rows the preview checks the whole file for its counts.
CHECK_ALL_ROWS = 10_000


def create_import(
    template: Template, filename: str, content: bytes, actor: str
) -> BulkImport:
    """Store an uploaded CSV with a first guess at its mapping.

    Raises CsvError, storing nothing, when the file cannot be read.
    """
    csv_file = read_csv(content)
    mapping = guess_mapping(csv_file.layout, data_placeholders(template.design))
    bulk_import = BulkImport(
        merchant_id=template.merchant_id,
        template_id=template.id,
        created_by=actor,
        filename=(filename.rsplit("/", 1)[-1] or "upload.csv")[:MAX_FILENAME],
        content=content,
        mapping=mapping.as_json(),
        total=len(csv_file.records),
        preview=_preview(template, csv_file, mapping),
    )
    db.session.add(bulk_import)
    db.session.commit()
    log.info(
        "bulk import %s of %s rows uploaded for template %s by %s",
        bulk_import.id,
        bulk_import.total,
        template.id,
        actor,
    )
    return bulk_import


def save_mapping(bulk_import: BulkImport, mapping: Mapping) -> None:
    """Store a new mapping and its preview; an earlier dry run no longer holds."""
    csv_file = read_csv(bulk_import.content)
    bulk_import.mapping = mapping.as_json()
    bulk_import.preview = _preview(bulk_import.template, csv_file, mapping)
    _reset(bulk_import)
    bulk_import.status = BULK_UPLOADED
    db.session.commit()


def file_layout(bulk_import: BulkImport) -> CsvLayout:
    """Return how the import's file was read, from its stored preview."""
    return CsvLayout.from_json(stored_preview(bulk_import)["layout"])


def stored_preview(bulk_import: BulkImport) -> dict[str, Any]:
    """Return the import's preview, making it once for an import stored without.

    {"layout": CsvLayout as JSON, "rows": the first rows checked, "counts":
    {"good", "bad"} when every row was checked, else None}; no rows when the
    mapping leaves a placeholder without a column.
    """
    if bulk_import.preview is None:
        csv_file = read_csv(bulk_import.content)
        mapping = Mapping.from_json(bulk_import.mapping)
        bulk_import.preview = _preview(bulk_import.template, csv_file, mapping)
        db.session.commit()
    return bulk_import.preview


def _preview(template: Template, csv_file: CsvFile, mapping: Mapping) -> dict:
    """Check the first rows, and every row if the file is not too long."""
    stored: dict[str, Any] = {
        "layout": csv_file.layout.as_json(),
        "rows": [],
        "counts": None,
    }
    if mapping_errors(csv_file.layout, data_placeholders(template.design), mapping):
        return stored
    rows = list(mapped_rows(csv_file, mapping))
    if len(rows) <= CHECK_ALL_ROWS:
        check_rows(template, rows)
        good = sum(1 for row in rows if row.is_good)
        stored["counts"] = {"good": good, "bad": len(rows) - good}
    else:
        check_rows(template, rows[:PREVIEW_ROWS])
    stored["rows"] = [
        {
            "line": row.line,
            "serial_number": "" if row.is_serial_random else row.serial_number,
            "customer_email": row.customer_email,
            "data": row.data,
            "errors": row.errors,
        }
        for row in rows[:PREVIEW_ROWS]
    ]
    return stored


def _reset(bulk_import: BulkImport) -> None:
    bulk_import.done = bulk_import.accepted = bulk_import.refused = 0
    bulk_import.refused_rows = []
    bulk_import.problem = None
    bulk_import.started_at = bulk_import.finished_at = None


def start_run(bulk_import: BulkImport, *, dry_run: bool, email_passes: bool) -> bool:
    """Start checking or issuing the file; False if a run started or ended already.

    The state moves in one conditional UPDATE, so two clicks of "Create"
    cannot both issue the file.
    """
    claimed = db.session.execute(
        update(BulkImport)
        .where(BulkImport.id == bulk_import.id, BulkImport.status.in_(OPEN))
        .values(
            status=BULK_CHECKING if dry_run else BULK_RUNNING,
            is_dry_run=dry_run,
            email_passes=email_passes and not dry_run,
            done=0,
            accepted=0,
            refused=0,
            refused_rows=[],
            problem=None,
            started_at=utcnow(),
            finished_at=None,
        )
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return False
    db.session.refresh(bulk_import)

    if bulk_import.total <= INLINE_ROWS:
        run_bulk_import(bulk_import.id)
    else:
        jobs.enqueue("app.passes.bulk.runs.run_bulk_import", bulk_import.id)
    return True


def run_bulk_import(import_id: int) -> None:
    """Check or issue every row of the import, then email the passes if asked."""
    bulk_import = db.session.get(BulkImport, import_id)
    if bulk_import is None or bulk_import.status not in RUNNING:
        return
    refused: list[list[Any]] = []

    def count(chunk: list[PassRow]) -> None:
        bad = [[row.line, row.errors] for row in chunk if not row.is_good]
        refused.extend(bad)
        bulk_import.done += len(chunk)
        bulk_import.accepted += len(chunk) - len(bad)
        bulk_import.refused += len(bad)

    try:
        csv_file = read_csv(bulk_import.content)
        rows = mapped_rows(csv_file, Mapping.from_json(bulk_import.mapping))
        results = issue_passes(
            bulk_import.template, rows, dry_run=bulk_import.is_dry_run, on_chunk=count
        )
    except Exception:
        log.exception("bulk import %s stopped", import_id)
        db.session.rollback()
        bulk_import.status = BULK_FAILED
        bulk_import.problem = (
            f"The run stopped after {bulk_import.done} rows because of an error "
            "on the server. The passes of those rows were created; the others "
            "were not."
        )
        bulk_import.refused_rows = refused
        bulk_import.finished_at = utcnow()
        db.session.commit()
        return

    bulk_import.refused_rows = refused
    bulk_import.status = BULK_CHECKED if bulk_import.is_dry_run else BULK_FINISHED
    bulk_import.finished_at = utcnow()
    db.session.commit()
    log.info(
        "bulk import %s %s: %s good rows, %s refused",
        import_id,
        "checked" if bulk_import.is_dry_run else "issued",
        bulk_import.accepted,
        bulk_import.refused,
    )
    if bulk_import.email_passes:
        _email(bulk_import, [row for row in results if row.pass_id is not None])


def _email(bulk_import: BulkImport, created: list[PassRow]) -> None:
    """Start a mail batch for the created passes that have an email address."""
    pass_ids = [row.pass_id for row in created if row.customer_email]
    if not pass_ids:
        return
    try:
        batch = start_mail_batch(
            bulk_import.merchant_id, pass_ids, bulk_import.created_by
        )
    except (SQLAlchemyError, RedisError, LookupError):
        # The passes stay created; the merchant can email them from their pages.
        log.exception("bulk import %s could not start its emails", bulk_import.id)
        db.session.rollback()
        bulk_import.problem = (
            "The passes were created, but their emails could not be started: "
            "email them from the passes' pages."
        )
        db.session.commit()
        return
    bulk_import.mail_batch_id = batch.id
    db.session.commit()


def progress(bulk_import: BulkImport) -> dict[str, Any]:
    """Return how far the import's run has got, as the page shows it."""
    return {
        "status": bulk_import.status,
        "dry_run": bulk_import.is_dry_run,
        "total": bulk_import.total,
        "done": bulk_import.done,
        "accepted": bulk_import.accepted,
        "refused": bulk_import.refused,
        "finished": bulk_import.status not in RUNNING,
    }

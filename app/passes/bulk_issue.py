"""Issuing many passes of a template at once, from rows of data.

Each row is checked as issue_pass checks one pass: a value for every
placeholder, a valid serial number not taken (nor used by an earlier row), a
valid email, and a pass.json Wallet accepts. The good rows are inserted a
chunk at a time, each chunk with one update tag and a download link per pass,
so a file of 10,000 rows takes a few dozen statements instead of tens of
thousands. A bad row never stops the others.
"""

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    DownloadLink,
    DownloadLinkPass,
    Pass,
    Template,
    UpdateCounter,
    utcnow,
)
from app.passes import service
from app.passes.bundle import PassDataError, placeholders, render_pass_json
from app.passes.validation import PassValidationError, validate_pass

log = logging.getLogger(__name__)

CHUNK = 500
# The same limits as the dashboard's issuing form.
MAX_VALUE_LENGTH = 2000
MAX_EMAIL_LENGTH = 320
# The server fills {{serialNumber}} itself; it is not pass data.
FILLED_BY_SERVER = frozenset({"serialNumber"})
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class BulkRow:
    """One pass to issue: its line in the file, data, serial and email.

    An empty serial number means a random one; errors found while reading the
    file come in with the row, the checks add theirs, and a created row gets
    its pass's id.
    """

    line: int
    data: dict[str, str]
    serial_number: str = ""
    customer_email: str = ""
    errors: list[str] = field(default_factory=list)
    pass_id: int | None = None
    is_serial_random: bool = False

    @property
    def is_good(self) -> bool:
        return not self.errors


def data_placeholders(template: Template) -> list[str]:
    """Return the names of the template's placeholders that pass data fills."""
    return sorted(placeholders(template.design) - FILLED_BY_SERVER)


class RowChecker:
    """Checks rows for one template, remembering the serials of earlier rows."""

    def __init__(self, template: Template):
        self.template = template
        self.placeholders = data_placeholders(template)
        self.pass_type_id = template.pass_type_id
        self.pass_type_identifier = template.pass_type.pass_type_identifier
        self.team_identifier = template.pass_type.team_identifier
        self.web_service_url = service.web_service_url()
        self.allow_http = current_app.config["DEVELOPMENT"]
        # The other files of the bundle, as bundle_files lays them out.
        self.paths = [image.path for image in template.images] + [
            f"{language}.lproj/pass.strings"
            for language, strings in template.localizations.items()
            if strings
        ]
        self.first_line: dict[str, int] = {}

    def check(self, rows: list[BulkRow]) -> None:
        """Add each row's errors to it; the database is only read."""
        for row in rows:
            self._check_values(row)
            self._check_serial(row)
            self._check_email(row)
            if row.is_good:
                self._check_render(row)
        self._check_taken([row for row in rows if not row.is_serial_random])

    def _check_values(self, row: BulkRow) -> None:
        for name in self.placeholders:
            value = row.data.get(name, "")
            if not value:
                row.errors.append(f"No value for {{{{{name}}}}}.")
            elif len(value) > MAX_VALUE_LENGTH:
                row.errors.append(
                    f"The value for {{{{{name}}}}} is longer than "
                    f"{MAX_VALUE_LENGTH:,} characters."
                )
            elif CONTROL_CHARACTERS.search(value):
                row.errors.append(
                    f"The value for {{{{{name}}}}} holds control characters."
                )

    def _check_serial(self, row: BulkRow) -> None:
        if not row.serial_number:
            row.serial_number = secrets.token_hex(10)
            row.is_serial_random = True
            return
        serial = row.serial_number
        if not service.SERIAL_NUMBER.fullmatch(serial):
            row.errors.append(
                "A serial number is 1 to 64 letters, digits, dots, dashes or "
                "underscores."
            )
        elif serial in self.first_line:
            row.errors.append(
                f"The serial number {serial} is also on line {self.first_line[serial]}."
            )
        else:
            self.first_line[serial] = row.line

    def _check_email(self, row: BulkRow) -> None:
        if not row.customer_email:
            return
        if len(row.customer_email) > MAX_EMAIL_LENGTH:
            row.errors.append("The email address is too long.")
            return
        try:
            validate_email(row.customer_email, check_deliverability=False)
        except EmailNotValidError as error:
            row.errors.append(f"The email address is not valid: {error}")
            return
        row.customer_email = row.customer_email.strip().lower()

    def _check_render(self, row: BulkRow) -> None:
        try:
            pass_json = render_pass_json(
                self.template.design,
                row.data,
                pass_type_identifier=self.pass_type_identifier,
                team_identifier=self.team_identifier,
                serial_number=row.serial_number,
                authentication_token=secrets.token_urlsafe(24),
                web_service_url=self.web_service_url,
            )
            validate_pass(pass_json, self.paths, allow_http=self.allow_http)
        except PassValidationError as error:
            row.errors.extend(error.errors)
        except PassDataError as error:
            row.errors.append(str(error))

    def _check_taken(self, rows: list[BulkRow]) -> None:
        by_serial = {row.serial_number: row for row in rows if row.is_good}
        if not by_serial:
            return
        taken = db.session.scalars(
            select(Pass.serial_number).where(
                Pass.pass_type_id == self.pass_type_id,
                Pass.serial_number.in_(list(by_serial)),
            )
        )
        for serial in taken:
            by_serial[serial].errors.append(_taken(serial))


def _taken(serial: str) -> str:
    return f"A pass with serial number {serial} exists."


def check_rows(template: Template, rows: list[BulkRow]) -> None:
    """Check the rows as issuing them would, creating nothing."""
    checker = RowChecker(template)
    for chunk in _chunks(rows):
        checker.check(chunk)


def issue_passes(
    template: Template,
    rows: Iterable[BulkRow],
    *,
    dry_run: bool = False,
    on_chunk: Callable[[list[BulkRow]], None] | None = None,
) -> list[BulkRow]:
    """Check every row and create a pass with a download link for each good one.

    Returns the rows: a created one has its pass_id, a refused one its errors.
    Each chunk commits on its own, with whatever `on_chunk` changed (progress),
    so the passes created stay created if a later chunk fails. A dry run
    checks everything and creates nothing.
    """
    checker = RowChecker(template)
    results: list[BulkRow] = []
    for chunk in _chunks(rows):
        checker.check(chunk)
        good = [row for row in chunk if row.is_good]
        if good and not dry_run:
            _create(template, good)
        if on_chunk is not None:
            on_chunk(chunk)
        db.session.commit()
        results.extend(chunk)

    created = sum(1 for row in results if row.pass_id is not None)
    log.info(
        "%s passes issued from template %s in bulk, %s rows refused%s",
        created,
        template.id,
        sum(1 for row in results if not row.is_good),
        " (dry run)" if dry_run else "",
    )
    return results


def _chunks(rows: Iterable[BulkRow]) -> Iterator[list[BulkRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _create(template: Template, rows: list[BulkRow]) -> None:
    pass_type_id, template_id = template.pass_type_id, template.id
    try:
        _insert(pass_type_id, template_id, rows)
        db.session.flush()
    except IntegrityError:
        # Another request took one of the serials since the check: insert the
        # rows one at a time to find it, keeping the others.
        db.session.rollback()
        for row in rows:
            row.pass_id = None
            try:
                _insert(pass_type_id, template_id, [row])
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                row.pass_id = None
                row.errors.append(_taken(row.serial_number))


def _insert(pass_type_id: int, template_id: int, rows: list[BulkRow]) -> None:
    """Insert the rows' passes with one update tag, and a link for each."""
    tag = UpdateCounter.next_tag()
    now = utcnow().replace(microsecond=0)
    pass_ids = db.session.scalars(
        insert(Pass).returning(Pass.id, sort_by_parameter_order=True),
        [
            {
                "pass_type_id": pass_type_id,
                "template_id": template_id,
                "serial_number": row.serial_number,
                "authentication_token": secrets.token_urlsafe(24),
                "data": dict(row.data),
                "customer_email": row.customer_email or None,
                "update_tag": tag,
                "updated_at": now,
            }
            for row in rows
        ],
    ).all()
    link_ids = db.session.scalars(
        insert(DownloadLink).returning(DownloadLink.id, sort_by_parameter_order=True),
        [{"token": secrets.token_urlsafe(24)} for _ in rows],
    ).all()
    db.session.execute(
        insert(DownloadLinkPass),
        [
            {"link_id": link_id, "pass_id": pass_id, "position": 0}
            for link_id, pass_id in zip(link_ids, pass_ids, strict=True)
        ],
    )
    for row, pass_id in zip(rows, pass_ids, strict=True):
        row.pass_id = pass_id

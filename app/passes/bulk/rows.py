"""Issuing many passes of a template at once, from rows of data.

The one way to issue several passes: the CSV import and the API's bulk create
both come here. Each row is checked as service.issue_pass checks one pass: a
valid serial number not taken (nor used by an earlier row), and a bundle that
service.check_pass accepts. The good rows are created a chunk at a time, each
chunk in one transaction with one update tag and a download link per pass, so
10,000 rows take a few dozen statements. A bad row never stops the others.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from app.downloads.links import create_links
from app.extensions import db
from app.models import Pass, Template
from app.passes import service
from app.passes.bundle import PassDataError
from app.passes.validation import PassValidationError

log = logging.getLogger(__name__)

CHUNK = 500
SERIAL_RULE = "A serial number is 1 to 64 letters, digits, dots, dashes or underscores."


@dataclass
class PassRow:
    """One pass to issue, and what became of it.

    `line` names the row to whoever sent it: a line of a file, an item of a
    request. An empty serial number means a random one. Errors found before
    (reading a file) come in with the row and the checks add theirs; a
    created row gets its pass's id.
    """

    line: int
    data: dict[str, Any]
    serial_number: str = ""
    customer_email: str = ""
    errors: list[str] = field(default_factory=list)
    is_serial_random: bool = False
    is_serial_taken: bool = False
    pass_id: int | None = None

    @property
    def is_good(self) -> bool:
        return not self.errors


class RowIssuer:
    """Checks and creates rows of one template, remembering earlier serials."""

    def __init__(self, template: Template):
        self.template = template
        self.first_line: dict[str, int] = {}

    def check(self, rows: list[PassRow]) -> list[tuple[PassRow, Pass]]:
        """Add each row's errors to it; return the good rows with their new passes.

        The database is only read: the passes are not in the session.
        """
        checked = []
        for row in rows:
            self._check_serial(row)
            if row.is_good:
                checked.append((row, self._check_pass(row)))
        self._check_taken([row for row in rows if not row.is_serial_random])
        return [(row, pass_) for row, pass_ in checked if row.is_good]

    def create(self, checked: list[tuple[PassRow, Pass]]) -> None:
        """Insert the checked passes with one update tag, and a link for each.

        If another request took a serial since the check, the rows are
        inserted one at a time to find it, keeping the others.
        """
        try:
            self._insert(checked)
        except IntegrityError:
            db.session.rollback()
            for row, _pass in checked:
                row.pass_id = None
                try:
                    self._insert([(row, self._new_pass(row))])
                    db.session.commit()
                except IntegrityError:
                    db.session.rollback()
                    row.pass_id = None
                    self._refuse_taken(row)

    def _check_serial(self, row: PassRow) -> None:
        if not row.serial_number:
            # As issue_pass chooses one; 80 random bits do not collide.
            row.serial_number = service.new_serial_number()
            row.is_serial_random = True
            return
        serial = row.serial_number
        if not service.SERIAL_NUMBER.fullmatch(serial):
            row.errors.append(SERIAL_RULE)
        elif serial in self.first_line:
            row.is_serial_taken = True
            row.errors.append(
                f"The serial number {serial} is also on line {self.first_line[serial]}."
            )
        else:
            self.first_line[serial] = row.line

    def _check_pass(self, row: PassRow) -> Pass:
        pass_ = self._new_pass(row)
        try:
            service.check_pass(pass_)
        except PassValidationError as error:
            row.errors.extend(error.errors)
        except PassDataError as error:
            row.errors.append(str(error))
        return pass_

    def _new_pass(self, row: PassRow) -> Pass:
        """Return the row's pass as issue_pass makes it, outside the session."""
        template = self.template
        pass_ = Pass(
            pass_type_id=template.pass_type_id,
            template_id=template.id,
            serial_number=row.serial_number,
            authentication_token=service.new_authentication_token(),
            data=dict(row.data),
            customer_email=row.customer_email.strip().lower() or None,
            is_voided=False,
        )
        # Set without backref events, so a pass only checked never joins the
        # session through its template.
        set_committed_value(pass_, "template", template)
        set_committed_value(pass_, "pass_type", template.pass_type)
        return pass_

    def _check_taken(self, rows: list[PassRow]) -> None:
        by_serial = {row.serial_number: row for row in rows if row.is_good}
        if not by_serial:
            return
        taken = db.session.scalars(
            select(Pass.serial_number).where(
                Pass.pass_type_id == self.template.pass_type_id,
                Pass.serial_number.in_(list(by_serial)),
            )
        )
        for serial in taken:
            self._refuse_taken(by_serial[serial])

    @staticmethod
    def _refuse_taken(row: PassRow) -> None:
        row.is_serial_taken = True
        row.errors.append(f"A pass with serial number {row.serial_number} exists.")

    @staticmethod
    def _insert(checked: list[tuple[PassRow, Pass]]) -> None:
        passes = [pass_ for _row, pass_ in checked]
        service.mark_changed(passes)
        db.session.add_all(passes)
        db.session.flush()
        create_links(passes)
        for row, pass_ in checked:
            row.pass_id = pass_.id


def check_rows(template: Template, rows: list[PassRow]) -> None:
    """Check the rows as issuing them would, creating nothing."""
    issuer = RowIssuer(template)
    for chunk in _chunks(rows):
        issuer.check(chunk)


def issue_passes(
    template: Template,
    rows: Iterable[PassRow],
    *,
    dry_run: bool = False,
    on_chunk: Callable[[list[PassRow]], None] | None = None,
) -> list[PassRow]:
    """Check every row and create a pass with a download link for each good one.

    Returns the rows: a created one has its pass_id, a refused one its errors.
    Each chunk commits on its own, with whatever `on_chunk` changed (progress),
    so the passes created stay created if a later chunk fails. A dry run
    checks everything and creates nothing.
    """
    issuer = RowIssuer(template)
    results: list[PassRow] = []
    for chunk in _chunks(rows):
        checked = issuer.check(chunk)
        if checked and not dry_run:
            issuer.create(checked)
        if on_chunk is not None:
            on_chunk(chunk)
        db.session.commit()
        results.extend(chunk)

    log.info(
        "%s passes issued from template %s in bulk, %s rows refused%s",
        sum(1 for row in results if row.pass_id is not None),
        template.id,
        sum(1 for row in results if not row.is_good),
        " (dry run)" if dry_run else "",
    )
    return results


def _chunks(rows: Iterable[PassRow]) -> Iterator[list[PassRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk

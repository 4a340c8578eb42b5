"""Reading a merchant's CSV of pass data: encoding, delimiter, header, rows.

Nothing here touches the database: the file becomes its layout (header,
encoding, delimiter) and numbered records, and a mapping of the template's
placeholders to header names turns each record into a PassRow for
app.passes.bulk.rows, with the errors its cells hold.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from app.passes.bulk.rows import PassRow
from app.passes.bundle import CONTROL_CHARACTERS, MAX_VALUE_LENGTH

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_COLUMNS = 200
# Longest cell the reader accepts; a mapped value must be far shorter.
MAX_CELL = 100_000
MAX_EMAIL_LENGTH = 320
DELIMITERS = ",;\t"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# Header names that hold the serial number or the customer's email.
SERIAL_HEADERS = {"serial", "serialnumber", "serialno"}
EMAIL_HEADERS = {"email", "mail", "emailaddress", "customeremail"}
_NOT_A_NAME = re.compile(r"[\s_.-]+")


class CsvError(ValueError):
    """The upload cannot be read as a CSV file; the message says why."""


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file was read: its header, encoding, delimiter and notices."""

    headers: list[str]
    encoding: str
    delimiter: str
    notices: list[str] = field(default_factory=list)

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES[self.delimiter]

    def named_columns(self) -> list[str]:
        """Return the header names a placeholder can be taken from, in order."""
        return [name for name in self.headers if name]

    def as_json(self) -> dict:
        return {
            "headers": self.headers,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "notices": self.notices,
        }

    @classmethod
    def from_json(cls, stored: dict) -> "CsvLayout":
        return cls(
            headers=list(stored["headers"]),
            encoding=stored["encoding"],
            delimiter=stored["delimiter"],
            notices=list(stored["notices"]),
        )


@dataclass(frozen=True)
class CsvFile:
    """A CSV file read: its layout and its records, each with its line."""

    layout: CsvLayout
    # (line where the record starts, its cells), blank lines left out.
    records: list[tuple[int, list[str]]]


@dataclass
class Mapping:
    """Which header fills each placeholder, the serial number and the email."""

    fields: dict[str, str]
    serial: str | None = None
    email: str | None = None

    def as_json(self) -> dict:
        return {"fields": self.fields, "serial": self.serial, "email": self.email}

    @classmethod
    def from_json(cls, stored: dict | None) -> "Mapping":
        stored = stored or {}
        return cls(
            fields=dict(stored.get("fields") or {}),
            serial=stored.get("serial"),
            email=stored.get("email"),
        )


def read_csv(content: bytes) -> CsvFile:
    """Decode and parse an uploaded CSV; raises CsvError with a message to show.

    UTF-8 (with or without a byte order mark) and UTF-16 with its mark are read
    as such; anything else is read as Windows-1252, and a notice says so.
    """
    if len(content) > MAX_BYTES:
        raise CsvError(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: "
            "split it into smaller files."
        )
    text, encoding, notices = _decode(content)
    if not text.strip():
        raise CsvError("The file is empty.")
    delimiter = _sniff_delimiter(text)
    records = _records(text, delimiter)
    if not records:
        raise CsvError("The file is empty.")
    _header_line, headers = records.pop(0)
    headers = [name.strip() for name in headers]
    _check_header(headers, notices)
    if not records:
        raise CsvError(
            "The file has a header row but no rows under it: "
            "add one row per pass below the column names."
        )
    return CsvFile(CsvLayout(headers, encoding, delimiter, notices), records)


def _decode(content: bytes) -> tuple[str, str, list[str]]:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16"), "UTF-16", []
        except UnicodeDecodeError:
            raise CsvError("The file says it is UTF-16 but is not.") from None
    if content.startswith(b"PK\x03\x04"):
        raise CsvError(
            "That is a ZIP archive or an Excel workbook, not a CSV file: "
            "save the sheet as “CSV UTF-8” and upload that."
        )
    if b"\x00" in content[:65536]:
        raise CsvError(
            "That is not a CSV file: it holds binary data. "
            "Upload a text file of comma, semicolon or tab separated values."
        )
    try:
        return content.decode("utf-8-sig"), "UTF-8", []
    except UnicodeDecodeError:
        pass
    # Spreadsheets on Windows save "CSV" in the machine's code page; 1252 is
    # the Western European one. Latin-1 reads the five bytes 1252 leaves out.
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    notice = (
        "The file is not UTF-8, so it was read as Windows-1252 (Western "
        "European). Check that accented names look right in the preview; if "
        "not, save the file as “CSV UTF-8” and upload it again."
    )
    return text, "Windows-1252", [notice]


def _sniff_delimiter(text: str) -> str:
    """Return the delimiter of the file: comma, semicolon or tab."""
    sample = "\n".join(text.lstrip("\ufeff").splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or rows too uneven to tell: count in the header alone.
        header = sample.split("\n", 1)[0]
        counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(records) > MAX_ROWS:
                    raise CsvError(
                        f"The file has more than {MAX_ROWS:,} rows: "
                        "split it into smaller files."
                    )
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise CsvError(f"Line {start} cannot be read: {error}.") from None
    return records


def _check_header(headers: list[str], notices: list[str]) -> None:
    if len(headers) > MAX_COLUMNS:
        raise CsvError(f"The file has more than {MAX_COLUMNS} columns.")
    if any(len(name) > 200 for name in headers):
        raise CsvError(
            "The first row must name the columns, and a column name is at most "
            "200 characters."
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(headers, start=1):
        key = name.casefold()
        if name and key in seen:
            raise CsvError(
                f"The header names “{name}” twice (columns {seen[key]} and "
                f"{number}): give each column its own name."
            )
        seen[key] = number
    if not seen:
        raise CsvError("The first row must name the columns; it is empty.")
    unnamed = [str(n) for n, name in enumerate(headers, start=1) if not name]
    if unnamed:
        notices.append(
            f"Columns without a name in the header row cannot be used: "
            f"{', '.join(unnamed)}."
        )
    if any("@" in name for name in headers):
        notices.append(
            "The first row holds an email address: it should name the columns "
            "(holder, seat, email, …), as every later row is read as a pass."
        )


def _key(name: str) -> str:
    return _NOT_A_NAME.sub("", name).casefold()


def guess_mapping(layout: CsvLayout, placeholders: list[str]) -> Mapping:
    """Match header names to the placeholders, serial and email, ignoring case."""
    by_key = {_key(name): name for name in layout.named_columns()}
    fields = {name: by_key[_key(name)] for name in placeholders if _key(name) in by_key}
    serial = next((by_key[k] for k in SERIAL_HEADERS if k in by_key), None)
    email = next((by_key[k] for k in EMAIL_HEADERS if k in by_key), None)
    return Mapping(fields, serial, email)


def mapping_errors(
    layout: CsvLayout, placeholders: list[str], mapping: Mapping
) -> dict[str, str]:
    """Return what is wrong with the mapping, by placeholder, "serial" or "email"."""
    columns = set(layout.named_columns())
    errors = {
        name: "Choose the column that fills this placeholder."
        for name in placeholders
        if mapping.fields.get(name) not in columns
    }
    for key, chosen in (("serial", mapping.serial), ("email", mapping.email)):
        if chosen is not None and chosen not in columns:
            errors[key] = "Choose one of the file's columns."
    return errors


def mapped_rows(csv_file: CsvFile, mapping: Mapping) -> Iterator[PassRow]:
    """Turn each record into the pass data, serial and email the mapping names.

    Each row comes with the errors of its cells: an empty or overlong value,
    control characters, an invalid email, more values than the header names.
    """
    headers = csv_file.layout.headers
    index = {name: number for number, name in enumerate(headers) if name}
    width = len(headers)
    for line, cells in csv_file.records:
        row = PassRow(
            line=line,
            data={
                name: _cell(cells, index[header])
                for name, header in mapping.fields.items()
            },
            serial_number=_cell(cells, index[mapping.serial]) if mapping.serial else "",
            customer_email=_cell(cells, index[mapping.email]) if mapping.email else "",
        )
        if any(cell.strip() for cell in cells[width:]):
            row.errors.append(
                f"The row has {len(cells)} values but the header names {width} "
                "columns: quote values that hold the delimiter."
            )
        if any(len(cell) > MAX_CELL for cell in cells):
            row.errors.append("A value is longer than the file allows.")
        _check_values(row)
        _check_email(row)
        yield row


def _check_values(row: PassRow) -> None:
    for name, value in sorted(row.data.items()):
        if not value:
            row.errors.append(f"No value for {{{{{name}}}}}.")
        elif len(value) > MAX_VALUE_LENGTH:
            row.errors.append(
                f"The value for {{{{{name}}}}} is longer than "
                f"{MAX_VALUE_LENGTH:,} characters."
            )
        elif CONTROL_CHARACTERS.search(value):
            row.errors.append(f"The value for {{{{{name}}}}} holds control characters.")


def _check_email(row: PassRow) -> None:
    if not row.customer_email:
        return
    if len(row.customer_email) > MAX_EMAIL_LENGTH:
        row.errors.append("The email address is too long.")
        return
    try:
        validate_email(row.customer_email, check_deliverability=False)
    except EmailNotValidError as error:
        row.errors.append(f"The email address is not valid: {error}")


def _cell(cells: list[str], number: int) -> str:
    return cells[number].strip() if number < len(cells) else ""


def refused_csv(csv_file: CsvFile, refused: list[tuple[int, list[str]]]) -> bytes:
    """Return the refused records as a CSV, each with its line and its errors.

    It keeps the file's delimiter and is written as UTF-8 with a byte order
    mark, so spreadsheets open non-ASCII names as they were.
    """
    reasons = dict(refused)
    layout = csv_file.layout
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=layout.delimiter, lineterminator="\r\n")
    # Line and errors come first, so a row with extra values keeps them all.
    writer.writerow(["line", "errors", *layout.headers])
    for line, cells in csv_file.records:
        if line in reasons:
            writer.writerow([line, " | ".join(reasons[line]), *cells])
    return buffer.getvalue().encode("utf-8-sig")

"""Checks the dashboard makes on a pass's data before issuing or changing it."""

from typing import Any

from app.models import Template
from app.passes.bundle import PassDataError, fill_placeholders
from app.preview.barcodes import barcode_problem

# Stands in for the random serial a pass issued without one gets: 20 hex
# digits, which every encoding holds.
RANDOM_SERIAL = "0" * 20


def barcode_errors(
    template: Template, data: dict[str, Any], serial_number: str | None
) -> list[str]:
    """Return why the template's barcodes, filled with the data, are unusable.

    A barcode Wallet cannot show (no message, characters its encoding cannot
    hold) would reach customers unscannable, so the pass is refused instead.
    Missing placeholders are left to the pass's own checks.
    """
    barcodes = template.design.get("barcodes")
    if not isinstance(barcodes, list):
        return []
    try:
        values = {**data, "serialNumber": serial_number or RANDOM_SERIAL}
        filled = fill_placeholders(barcodes, values)
    except PassDataError:
        return []
    problems = dict.fromkeys(barcode_problem(barcode) for barcode in filled)
    return [_explain(problem) for problem in problems if problem is not None]


def _explain(problem: str) -> str:
    message = f"The barcode cannot be made from this data: {problem}"
    if "cannot hold" in problem:
        message += (
            " Type other characters, or choose the utf-8 encoding in the "
            "template's barcode design."
        )
    return message

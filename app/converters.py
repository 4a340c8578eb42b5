"""URL converters shared by every blueprint."""

from werkzeug.routing import IntegerConverter

# Integer columns are 32-bit on PostgreSQL (and SQLite refuses past 64 bits):
# a larger id names no row, so its URL names no page.
MAX_ID = 2**31 - 1


class StoredIdConverter(IntegerConverter):
    """`<int:...>` for ids a database column holds: a larger one answers 404."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(url_map, fixed_digits, min, max, signed)

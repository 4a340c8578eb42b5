"""Pass pages: the list with search and filters, one pass, its devices."""

from app.dashboard import bp  # noqa: F401 - routes are added here

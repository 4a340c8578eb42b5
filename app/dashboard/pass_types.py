"""Pass type pages: adding a certificate, its details and push checks."""

from app.dashboard import bp  # noqa: F401 - routes are added here

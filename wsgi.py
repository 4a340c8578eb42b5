"""The WSGI entry point: `gunicorn wsgi:app`, and the app `flask` commands use."""

import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"passline cannot start: {exc}")

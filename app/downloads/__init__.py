"""Public pass download links that customers open."""

from flask import Blueprint

bp = Blueprint("downloads", __name__, url_prefix="/p")

from app.downloads import views  # noqa: E402, F401 - registers the routes on bp

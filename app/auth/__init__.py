"""Signing up, signing in and out of the merchant dashboard."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/account")

from app.auth import views  # noqa: E402, F401 - registers the routes on bp

"""Pushing pass updates to Wallet through APNs."""

from flask import Flask

from app.push.service import ClientRegistry


def init_app(app: Flask) -> None:
    """Give the app its registry of APNs clients, one per pass type."""
    app.extensions["passline.apns"] = ClientRegistry()

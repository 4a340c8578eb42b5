"""The app and pass type both benchmarks run on: a fresh SQLite file each run."""

from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask

from app import create_app
from app.devchain import DevelopmentChain
from app.merchants import create_merchant
from app.models import PassType
from app.passes import service


def make_app(folder: Path, **settings) -> Flask:
    """Create an app on a fresh SQLite file in folder, with extra settings."""
    return create_app(
        {
            "SECRET_KEY": "bench-secret",
            "KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite'}",
            "PUBLIC_URL": "https://passline.bench",
            "JOB_QUEUE": "sync",
            **settings,
        },
        instance_path=str(folder / "instance"),
    )


def make_pass_type(chain: DevelopmentChain) -> PassType:
    """Store a pass type for the chain's certificate under a new merchant."""
    merchant = create_merchant("Bench Venue", "bench@passline.bench", "bench-password")
    return service.create_pass_type(merchant, chain.identity())

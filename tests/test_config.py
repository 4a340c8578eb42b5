"""The settings check that refuses to start a server that cannot work."""

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.config import ConfigError

GOOD = {
    "SECRET_KEY": "s3cret",
    "KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "PUBLIC_URL": "https://passes.example.com/",
    "SQLALCHEMY_DATABASE_URI": "sqlite://",
}


def test_good_settings_start_and_trailing_slash_is_dropped(tmp_path):
    app = create_app(GOOD, instance_path=str(tmp_path))

    assert app.config["PUBLIC_URL"] == "https://passes.example.com"
    assert app.config["APNS_HOST"] == "api.push.apple.com"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"KEY_ENCRYPTION_KEY": None}, "KEY_ENCRYPTION_KEY is not set"),
        ({"KEY_ENCRYPTION_KEY": "too-short"}, "KEY_ENCRYPTION_KEY is not a Fernet"),
        ({"PUBLIC_URL": "passes.example.com"}, "PUBLIC_URL must be an https:// URL"),
        ({"PUBLIC_URL": "http://passes.example.com"}, "set DEVELOPMENT=true"),
        ({"KEY_ENCRYPTION_KEY": 12345}, "KEY_ENCRYPTION_KEY must be text"),
        ({"PUBLIC_URL": 5000}, "PUBLIC_URL must be text"),
    ],
)
def test_bad_settings_refuse_to_start(change, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        create_app({**GOOD, **change}, instance_path=str(tmp_path))


def test_development_allows_http_and_a_generated_secret(tmp_path):
    app = create_app(
        {**GOOD, "DEVELOPMENT": True, "SECRET_KEY": None, "PUBLIC_URL": "http://h:5"},
        instance_path=str(tmp_path),
    )

    assert app.config["PUBLIC_URL"] == "http://h:5"
    assert len(app.config["SECRET_KEY"]) == 64


def test_environment_overrides_the_instance_config(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text(
        "SECRET_KEY = 'from-file'\n"
        f"KEY_ENCRYPTION_KEY = {GOOD['KEY_ENCRYPTION_KEY']!r}\n"
        "PUBLIC_URL = 'https://file.example.com'\nAPNS_PORT = 443\n"
    )
    monkeypatch.setenv("FLASK_APNS_PORT", "2197")
    monkeypatch.setenv("FLASK_PUBLIC_URL", "https://env.example.com")

    app = create_app(instance_path=str(tmp_path))

    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["APNS_PORT"] == 2197
    assert app.config["PUBLIC_URL"] == "https://env.example.com"

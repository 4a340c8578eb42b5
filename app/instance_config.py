"""Print a new instance/config.py with random keys: `python -m app.instance_config`."""

import secrets

from cryptography.fernet import Fernet


def instance_config_text() -> str:
    """Return the text of a new instance/config.py with random keys."""
    return (
        "# Written by `python -m app.instance_config`. Keep this file secret and\n"
        "# backed up: without KEY_ENCRYPTION_KEY the stored certificate keys cannot\n"
        "# be read.\n"
        f"SECRET_KEY = {secrets.token_hex(32)!r}\n"
        f"KEY_ENCRYPTION_KEY = {Fernet.generate_key().decode()!r}\n"
    )


if __name__ == "__main__":
    print(instance_config_text(), end="")

"""The Makefile's own recipes, run for real in a scratch copy."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_instance_config_is_readable_by_its_owner_only(tmp_path):
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "app").symlink_to(ROOT / "app")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # A script, not a link: a link to the venv's python would lose the venv.
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    # Newer than the requirements: make sees the venv installed, runs no pip.
    (tmp_path / ".venv" / "installed").touch()

    result = subprocess.run(
        ["sh", "-c", "umask 022 && make --no-print-directory instance/config.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert result.returncode == 0, result.stderr
    config = tmp_path / "instance" / "config.py"
    assert "SECRET_KEY" in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

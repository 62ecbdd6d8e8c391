"""What the benchmark needs besides the project, installed when missing: wrk, and Isso."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ISSO_VENV = Path(__file__).resolve().parent / ".venv-isso"
ISSO_REQUIREMENTS = ("isso==0.14.0", "gunicorn")  # the release the issue compares against


def ensure_wrk() -> None:
    """wrk from Debian's packages."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install it (Debian: sudo apt-get install -y wrk) and run again")
    print("installing wrk (apt-get)...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL}
    subprocess.run(["apt-get", "update"], check=True, **quiet)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, **quiet)


def ensure_isso() -> Path:
    """Isso 0.14 and gunicorn in a virtualenv of their own; returns the virtualenv."""
    python = ISSO_VENV / "bin" / "python"
    has_isso = python.exists() and (
        subprocess.run(
            [str(python), "-c", "import isso, gunicorn"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_isso:
        print(f"installing Isso into {ISSO_VENV}...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ISSO_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *ISSO_REQUIREMENTS],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return ISSO_VENV

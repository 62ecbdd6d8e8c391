"""wrk driven from Python: one run of a Lua scenario, its figures read back as JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_MARK = "BENCH-RESULT "
THREADS = 2
# Long enough for Isso's slowest pages to come back at 50 connections rather than count as errors.
TIMEOUT = "60s"


def script_file(name: str, workdir: Path) -> Path:
    """The scenario's script followed by the reporting one (wrk takes a single script)."""
    path = workdir / f"{name}.lua"
    if not path.exists():
        parts = (LUA_DIR / f"{name}.lua", LUA_DIR / "report.lua")
        path.write_text("".join(part.read_text() for part in parts))
    return path


def run_wrk(
    url: str,
    script: Path,
    arguments: list[str],
    headers: dict[str, str],
    seconds: int,
    connections: int,
) -> dict:
    """One wrk run: requests/s, latency percentiles (ms), errors and statuses."""
    command = [
        *("wrk", "--threads", str(THREADS), "--connections", str(connections)),
        *("--duration", f"{seconds}s", "--timeout", TIMEOUT, "--script", str(script)),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command += [url, "--", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1][len(RESULT_MARK) :])
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "rps": raw["requests"] / seconds_run,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "requests": raw["requests"],
        "errors": sum(errors.values()),
        "error_kinds": {kind: count for kind, count in errors.items() if count},
        "statuses": raw["statuses"],  # by status code, as text: {"201": 680}
        "sent": raw["sent"],
        "bytes": raw["bytes"],
        "seconds": seconds_run,
    }

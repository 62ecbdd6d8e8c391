"""The servers under test: how each is started, when it is ready, its memory, and its stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # the only address any load goes to
ORIGIN = "http://127.0.0.1:1"  # the blog's origin: a header value only, nothing listens there
WORKERS = 2
DEFENSES_OFF = {
    "COMMENTS_RATE_LIMIT": "0",
    "COMMENTS_THREAD_RATE_LIMIT": "0",
    "COMMENTS_MIN_WRITE_SECONDS": "0",
    "COMMENTS_DUPLICATE_WINDOW": "0",
    "COMMENTS_MAX_LINKS": "0",
    # Posting 500 a second into one thread is a surge: slow mode and the challenge would refuse.
    "COMMENTS_SURGE_RATE": "0",
    "COMMENTS_SURGE_HOLD_RATE": "0",
    "COMMENTS_CHALLENGE_DIFFICULTY": "0",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def our_environment(data_dir: Path, database_url: str | None, port: int = 8000) -> dict[str, str]:
    """The settings of our server (and of the loader, which must share its secret key)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("COMMENTS_")}
    environ.update(DEFENSES_OFF)
    environ.update(
        COMMENTS_DATA_DIR=str(data_dir),
        COMMENTS_ORIGINS=ORIGIN,
        COMMENTS_HOST=HOST,
        COMMENTS_PORT=str(port),
        # As behind a proxy that logs, and as the ceiling runs: the line per request is not ours
        # to measure (bench/rounds.py --ours x=.@COMMENTS_ACCESS_LOG=on shows what it costs).
        COMMENTS_ACCESS_LOG="off",
    )
    if database_url:
        environ["COMMENTS_DATABASE_URL"] = database_url
    return environ


def our_command(workers: int = WORKERS) -> list[str]:
    return [sys.executable, "-m", "comments", "serve", "--workers", str(workers)]


def ceiling_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "ceiling:create_app", "--factory"),
        *("--app-dir", str(BENCH_DIR), "--host", HOST, "--port", str(port)),
        *("--workers", str(WORKERS), "--no-access-log"),
    ]


def isso_config(database: Path, port: int) -> str:
    return (
        f"[general]\ndbpath = {database}\nhost = {ORIGIN}\n\n"
        f"[server]\nlisten = http://{HOST}:{port}\n\n"
        "[moderation]\nenabled = false\n\n[guard]\nenabled = false\n\n[admin]\nenabled = false\n"
    )


def isso_command(venv: Path, port: int) -> list[str]:
    # As Isso's documentation deploys it: gunicorn, the app preloaded, sync workers.
    gunicorn = str(venv / "bin" / "gunicorn")
    return [
        gunicorn,
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(WORKERS),
        "--preload",
        "isso.run",
    ]


@dataclass
class Server:
    command: list[str]
    environ: dict[str, str]
    port: int
    ready: str  # a path that answers once the server serves
    log: Path
    process: subprocess.Popen | None = None
    peak_rss: int = 0  # bytes: the highest sum of RSS over the server's processes
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.environ,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        wait_ready(self.process, self.port, self.ready, self.log)

    def restart(self) -> None:
        """A fresh start, dropping whatever requests the server still had queued."""
        stop(self.process)
        self.start()

    def members(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def cpu_seconds(self) -> float:
        """CPU time the server's processes have used so far, user and system."""
        return sum(map(cpu_seconds, self.members()))

    def watch_memory(self) -> None:
        members, since = [], 0.0
        while not self.stopping.wait(0.2):
            if time.monotonic() - since > 5:  # workers may be replaced; look again now and then
                members, since = self.members(), time.monotonic()
            self.peak_rss = max(self.peak_rss, sum(map(rss, members)))


@contextmanager
def running(
    command: list[str], environ: dict[str, str], port: int, ready: str, log: Path
) -> Iterator[Server]:
    """Start a server, wait until `ready` (a path) answers, sample its memory, stop it after."""
    server = Server(command, environ, port, ready, log)
    try:
        server.start()
        threading.Thread(target=server.watch_memory, daemon=True).start()
        yield server
    finally:
        server.stopping.set()
        if server.process:
            stop(server.process)


def wait_ready(process: subprocess.Popen, port: int, path: str, log: Path, limit: float = 180):
    deadline, last = time.monotonic() + limit, "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status < 500:
                time.sleep(1)  # let the other workers finish starting too
                return
            last = f"status {status}"
        except OSError as error:
            last = repr(error)
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {path} within {limit} s ({last}); see {log}")


def stop(process: subprocess.Popen) -> None:
    """Ask the server's main process to stop (it stops its workers); force it if it hangs."""
    children = {pid: started_at(pid) for pid in descendants(process.pid)}
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid, started in children.items():
        if started is not None and started_at(pid) == started:  # still ours, not a reused PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command's name: [0] is the state, the 3rd field."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    try:
        fields = stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def started_at(pid: int) -> str | None:
    try:
        return stat_fields(pid)[19]
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(stat_fields(int(entry.name))[1])
        except (OSError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def rss(pid: int) -> int:
    """Resident memory of one process, in bytes (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

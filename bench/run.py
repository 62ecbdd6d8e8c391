"""The benchmark of issue 5 in one command: our server against the bare-Starlette ceiling and Isso.

    python bench/run.py                      # SQLite, with Isso: about 15 minutes
    python bench/run.py --quick              # a smoke run on less data, without Isso: 2 minutes
    python bench/run.py --database postgresql://postgres@127.0.0.1:5432/test

Prints a Markdown table and the issue's targets; writes the raw figures to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import install
import load_ours
import report
import servers
import suites
from data import SITES
from measure import Settings
from suites import progress

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less data, shorter runs")
    parser.add_argument("--database", metavar="URL", help="run our server on this PostgreSQL")
    isso = parser.add_mutually_exclusive_group()
    isso.add_argument("--isso", action="store_true", default=None, help="compare with Isso")
    isso.add_argument("--no-isso", dest="isso", action="store_false", help="leave Isso out")
    parser.add_argument("--duration", type=int, help="seconds measured per scenario (10)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per scenario (2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--report", metavar="JSON", help="print the table of an earlier run")
    return parser.parse_args()


def settings_of(args: argparse.Namespace, workdir: Path) -> Settings:
    return Settings(
        profile="quick" if args.quick else "full",
        duration=args.duration or (2 if args.quick else 10),
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        connections=args.connections,
        cold_samples=10 if args.quick else 50,
        workdir=workdir,
    )


@contextmanager
def our_databases(database: str | None) -> Iterator[dict[str, str | None]]:
    """Per site: None (SQLite in the data directory) or a fresh PostgreSQL schema, dropped after."""
    if not database:
        yield dict.fromkeys(SITES)
        return
    import sqlalchemy

    from comments.config import PARSERS

    engine = sqlalchemy.create_engine(PARSERS["database_url"](database))
    schemas = {site: f"bench_{site}_{os.getpid()}" for site in SITES}
    with engine.begin() as conn:
        for schema in schemas.values():
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in database else "?"
    try:
        yield {
            site: f"{database}{separator}options=-csearch_path%3D{schema}"
            for site, schema in schemas.items()
        }
    finally:
        with engine.begin() as conn:
            for schema in schemas.values():
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


def load_data(settings: Settings, urls: dict, venv: Path | None) -> tuple[dict, dict]:
    """Both sites into our databases and, at the same time, into Isso's."""
    from comments import config as configuration

    workdir = settings.workdir
    configs = {
        site: configuration.load(servers.our_environment(workdir / f"ours-{site}", urls[site]))
        for site in SITES
    }
    isso_loader = None
    if venv:
        command = [str(venv / "bin" / "python"), str(BENCH_DIR / "load_isso.py")]
        config = suites.isso_config(workdir, "small", 0)
        command += ["--config", str(config), "--profile", settings.profile]
        for site in SITES:
            command += ["--db", f"{site}={workdir / f'isso-{site}.db'}"]
        isso_loader = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=BENCH_DIR)
    progress(f"loading the {settings.profile} data...")
    host = configs["small"].default_site
    loaded = {"ours": load_ours.load(configs, host, settings.profile)}
    progress(f"  ours: {loaded['ours']}")
    if isso_loader:
        output, _ = isso_loader.communicate(timeout=1800)
        if isso_loader.returncode:
            raise RuntimeError("loading Isso's databases failed")
        loaded["isso"] = json.loads(output)
        progress(f"  isso: {loaded['isso']}")
    return configs, loaded


def run(settings: Settings, database: str | None, venv: Path | None) -> dict:
    with our_databases(database) as urls:
        configs, loaded = load_data(settings, urls, venv)
        return {"loaded": loaded, **suites.run(configs, venv, settings)}


def main() -> None:
    # Stopped with SIGTERM (or SIGINT, which background jobs ignore), still stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    args = parse_args()
    if args.report:
        print(report.markdown(json.loads(Path(args.report).read_text())))
        return
    try:
        import comments  # noqa: F401
    except ImportError:
        sys.exit("install the project first: pip install -e .")
    install.ensure_wrk()
    with_isso = args.isso if args.isso is not None else not args.quick  # default: full runs only
    venv = install.ensure_isso() if with_isso else None
    workdir = Path(tempfile.mkdtemp(prefix="comments-bench-"))
    settings = settings_of(args, workdir)
    began = time.monotonic()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    results: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if args.database else "sqlite",
        "settings": {key: str(value) for key, value in vars(settings).items()},
        "machine": {
            "cores": os.cpu_count(),
            "load_average_before": os.getloadavg()[0],
            "python": platform.python_version(),
            "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip(),
        },
    }
    try:
        results.update(run(settings, args.database, venv))
    except BaseException:
        progress(f"failed; the databases and server logs are in {workdir}")
        raise
    if args.keep:
        progress(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    results["minutes"] = round((time.monotonic() - began) / 60, 1)
    print(report.markdown(results))
    RESULTS_DIR.mkdir(exist_ok=True)
    name = f"{results['started'].replace(':', '')}-{results['database']}-{settings.profile}.json"
    (RESULTS_DIR / name).write_text(json.dumps(results, indent=1, default=str))
    progress(f"raw figures: {RESULTS_DIR / name}")


if __name__ == "__main__":
    main()

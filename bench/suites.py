"""The servers under test, all started at once, and every scenario run against each in turn.

Servers wait idle while another one is loaded, so each scenario is measured on our small site,
our big site, Isso's small site and Isso's big site back to back: the ratios between them hold even
when other processes come and go on the machine during the run.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import load_ours
import measure
import probes
import servers
from data import SITES, single_plan, single_uri
from measure import Settings
from scenarios import (
    BEST_READ,
    COLD_PERMALINK,
    COLD_READS,
    CONDITIONAL,
    COUNTS,
    PERMALINK,
    POSTING,
    READS,
    Ceiling,
    Isso,
    Ours,
    Request,
)

FIRST_PAGE_100 = READS[2][0]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report(name: str, metrics: dict) -> None:
    cpu = metrics.get("cpu_ms_per_request")
    errors = metrics.get("errors")
    rate = f"{metrics['rps']:,.1f} req/s, " if "rps" in metrics else ""
    progress(
        f"  {name}: {rate}p50 {metrics['p50_ms']:.1f} ms, p99 {metrics['p99_ms']:.1f} ms"
        + (f", server CPU {cpu:.2f} ms/req" if cpu else "")
        + (f", {errors} errors {metrics['error_kinds']}" if errors else "")
    )


@dataclass
class Target:
    """A running server with one site's data."""

    name: str  # "ours" or "isso"
    site: str
    flavour: type
    server: servers.Server
    count_rows: Callable[[str], int]  # rows a posting run left, by its nonce


def start_ours(stack: ExitStack, site: str, config, settings: Settings) -> Target:
    port = servers.free_port()
    environ = servers.our_environment(config.data_dir, config.database_url, port)
    log = settings.workdir / f"ours-{site}.log"
    command = servers.our_command()
    server = stack.enter_context(servers.running(command, environ, port, Ours.ready, log))
    return Target(
        "ours", site, Ours, server, lambda nonce: load_ours.count_posted(config.database_url, nonce)
    )


def start_isso(stack: ExitStack, site: str, venv: Path, settings: Settings) -> Target:
    port = servers.free_port()
    database = settings.workdir / f"isso-{site}.db"
    environ = {**os.environ, "ISSO_SETTINGS": str(isso_config(settings.workdir, site, port))}
    log = settings.workdir / f"isso-{site}.log"
    command = servers.isso_command(venv, port)
    server = stack.enter_context(servers.running(command, environ, port, Isso.ready, log))
    return Target("isso", site, Isso, server, lambda nonce: isso_rows(database, nonce))


def start_ceiling(stack: ExitStack, body: bytes, settings: Settings) -> servers.Server:
    """A bare Starlette app under uvicorn serving our 100-comment first page as a fixed body."""
    body_path = settings.workdir / "ceiling-body"
    body_path.write_bytes(body)
    port = servers.free_port()
    environ = {**os.environ, "BENCH_CEILING_BODY": str(body_path)}
    log = settings.workdir / "ceiling.log"
    command = servers.ceiling_command(port)
    return stack.enter_context(servers.running(command, environ, port, "/", log))


def run(configs: dict, venv: Path | None, settings: Settings) -> dict:
    """Start everything, run every scenario on every server, stop everything."""
    with ExitStack() as stack:
        progress(f"starting the servers ({servers.WORKERS} workers each)...")
        targets = [start_ours(stack, site, configs[site], settings) for site in SITES]
        if venv:
            targets += [start_isso(stack, site, venv, settings) for site in SITES]
        ours_small = targets[0]
        first_page = Ours.thread(single_uri(100), 50)
        body = probes.fetch(ours_small.server.port, first_page).wire
        ceiling = start_ceiling(stack, body, settings)
        results: dict = {target.name: {site: {} for site in SITES} for target in targets}

        def each(row: str, make: Callable[[Target], dict | None]) -> None:
            for target in targets:
                metrics = make(target)
                if metrics is not None:
                    results[target.name][target.site][row] = metrics
                    report(f"{target.name} {target.site}: {row}", metrics)

        sizes = {size for _, size in single_plan(settings.profile)}
        for label, size, limit in READS:
            if size not in sizes:
                continue
            each(label, lambda t, size=size, limit=limit: read(t, size, limit, settings))
            if label == FIRST_PAGE_100:
                results["ceiling"] = measure.request(
                    ceiling, Ceiling, Request("GET", "/"), 200, settings
                )
                results["ceiling"]["body_bytes"] = len(body)
                report("bare Starlette ceiling", results["ceiling"])
                each(BEST_READ[0], lambda t: best_read(t, settings))
        if PERMALINK[1] in sizes:
            label, size, nth = PERMALINK
            wanted = probes.nth_comment(ours_small.server.port, single_uri(size), nth)
            each(label, lambda t: permalink(t, size, wanted, settings))
        each(COUNTS, lambda t: counts(t, settings))
        each(CONDITIONAL, lambda t: conditional(t, first_page, settings))
        largest = max(sizes)
        walk = probes.walk_thread(ours_small.server.port, single_uri(largest))
        results["walk"] = {"size": largest, **walk}
        progress(f"  walk by cursor: {results['walk']}")
        for label, size in COLD_READS:
            if size in sizes:
                each(label, lambda t, size=size: cold_read(t, size, settings))
        if PERMALINK[1] in sizes:
            each(COLD_PERMALINK, lambda t: cold_read(t, PERMALINK[1], settings, wanted))
        each(POSTING, lambda t: posting(t, settings))
        for target in targets:
            results[target.name][target.site]["peak_rss"] = target.server.peak_rss
    return results


def read(target: Target, size: int, limit: int, settings: Settings) -> dict:
    asked = target.flavour.thread(single_uri(size), limit)
    return measure.request(target.server, target.flavour, asked, 200, settings)


def best_read(target: Target, settings: Settings) -> dict | None:
    """The thread of 100's first page in the best order; Isso has none, so it is left out."""
    if target.flavour is not Ours:
        return None
    _, size, limit = BEST_READ
    asked = Ours.thread(single_uri(size), limit, sort="best")
    return measure.request(target.server, Ours, asked, 200, settings)


def counts(target: Target, settings: Settings) -> dict:
    asked = target.flavour.counts(measure.count_uris(settings.profile, target.site))
    return measure.request(target.server, target.flavour, asked, 200, settings)


def conditional(target: Target, first_page: Request, settings: Settings) -> dict | None:
    """The thread page asked again with its ETag; Isso sends no ETag, so it is left out."""
    if target.flavour is not Ours:
        return None
    etag = probes.fetch(target.server.port, first_page).headers["etag"]
    return measure.request(
        target.server, Ours, first_page, 304, settings, **{"If-None-Match": etag}
    )


def permalink(target: Target, size: int, wanted: int, settings: Settings) -> dict | None:
    """The page holding one comment; Isso has no such request, so it is left out."""
    if target.flavour is not Ours:
        return None
    asked = Ours.thread(single_uri(size), 50, around=wanted)
    return measure.request(target.server, Ours, asked, 200, settings)


def cold_read(
    target: Target, size: int, settings: Settings, around: int | None = None
) -> dict | None:
    if target.flavour is not Ours:
        return None  # Isso reads the same way every time
    return probes.first_reads_after_writes(
        target.server.port, single_uri(size), settings.cold_samples, around
    )


def posting(target: Target, settings: Settings) -> dict:
    return measure.posting(target.server, target.flavour, target.site, settings, target.count_rows)


def isso_config(workdir: Path, site: str, port: int) -> Path:
    path = workdir / f"isso-{site}.cfg"
    path.write_text(servers.isso_config(workdir / f"isso-{site}.db", port))
    return path


def isso_rows(database: Path, nonce: str) -> int:
    with sqlite3.connect(database) as connection:
        query = "SELECT COUNT(*) FROM comments WHERE text LIKE ?"
        return connection.execute(query, (f"Comment {nonce}-%",)).fetchone()[0]

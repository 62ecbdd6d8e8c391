"""One scenario against a running server: check an answer, warm up, load it with wrk, read back."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import loadgen
import probes
from data import single_plan, single_uri, site_plan
from scenarios import COUNTS, EMBED_HEADERS, READS, Request
from servers import HOST, Server


@dataclass(frozen=True)
class Settings:
    profile: str  # which data: "full" or "quick"
    duration: int  # seconds measured per scenario
    warmup: int  # seconds of warm-up before it
    connections: int
    cold_samples: int
    workdir: Path


def count_uris(profile: str, site: str) -> list[str]:
    """20 of the site's threads, spread over it: a blog's index page asking for counts."""
    uris = [uri for uri, _ in site_plan(profile, site)]
    return uris[:: max(1, len(uris) // 20)][:20]


def request(
    server: Server, flavour, asked: Request, expected: int, settings: Settings, **headers: str
) -> dict:
    """Check one answer, then load the server with the same request."""
    answer = probes.fetch(server.port, asked, **headers)
    if answer.status != expected:
        raise RuntimeError(f"{asked.path} answered {answer.status}: {answer.body[:300]!r}")
    arguments = [asked.method]
    if asked.body:
        body_file = settings.workdir / f"body-{hashlib.sha1(asked.body).hexdigest()[:12]}"
        body_file.write_bytes(asked.body)
        arguments.append(str(body_file))
    headers = {**EMBED_HEADERS, **asked.headers, **headers}
    metrics = load(server, flavour, asked.path, "static", arguments, headers, settings)
    metrics["wire_bytes"] = len(answer.wire)
    if asked.method == "GET" and answer.status == 200:
        metrics["comments"] = probes.count_comments(answer.json(), flavour.comments_key)
    return metrics


def load(
    server: Server,
    flavour,
    path: str,
    script: str,
    arguments: list[str],
    headers: dict[str, str],
    settings: Settings,
    warm_up: bool = True,
) -> dict:
    """A warm-up run (if the server has something to warm), then the measured one.

    After each run the server must be idle again. Ours is once one more request has waited its
    turn. Isso's sync workers finish every request they accepted, those wrk gave up on included,
    which takes up to a minute for its slowest pages: it is restarted instead.
    """
    url = f"http://{HOST}:{server.port}{path}"
    script_path = loadgen.script_file(script, settings.workdir)
    ready = Request("GET", flavour.ready)
    if warm_up and flavour.warms_up and settings.warmup:
        loadgen.run_wrk(url, script_path, arguments, headers, settings.warmup, settings.connections)
        probes.fetch(server.port, ready)
    cpu_before = server.cpu_seconds()
    metrics = loadgen.run_wrk(
        url, script_path, arguments, headers, settings.duration, settings.connections
    )
    # CPU the server spent per answer: robust to a busy machine, unlike requests per second.
    cpu = server.cpu_seconds() - cpu_before
    metrics["cpu_ms_per_request"] = (
        1000 * cpu / metrics["requests"] if metrics["requests"] else None
    )
    if flavour.restarts:
        server.restart()
    else:
        probes.fetch(server.port, ready)
    return metrics


def reads(server: Server, flavour, site: str, settings: Settings, report) -> dict:
    """The thread pages of every size, and the counts."""
    sizes = {size for _, size in single_plan(settings.profile)}
    found = {}
    for label, size, limit in READS:
        if size in sizes:
            asked = flavour.thread(single_uri(size), limit)
            found[label] = request(server, flavour, asked, 200, settings)
            report(f"{flavour.name} {site}: {label}", found[label])
    counts = flavour.counts(count_uris(settings.profile, site))
    found[COUNTS] = request(server, flavour, counts, 200, settings)
    report(f"{flavour.name} {site}: {COUNTS}", found[COUNTS])
    return found


def posting(
    server: Server, flavour, site: str, settings: Settings, count_rows: Callable[[str], int]
) -> dict:
    """Post for the run's duration (the server is warm from the reads), then count the rows."""
    nonce = secrets.token_hex(4)
    uris = count_uris(settings.profile, site)
    headers = {**EMBED_HEADERS, "Content-Type": "application/json"}
    arguments = [flavour.name, nonce, ",".join(uris)]
    metrics = load(server, flavour, "/", "post", arguments, headers, settings, warm_up=False)
    metrics["rows"] = count_rows(nonce)
    metrics["in_flight"] = metrics["sent"] - metrics["requests"]
    return metrics

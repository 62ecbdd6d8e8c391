"""Our server against the bare-Starlette ceiling in alternating rounds, medians reported: the
figure for one change to the read path on a noisy machine.

    python bench/rounds.py                                   # this checkout, 5 rounds
    python bench/rounds.py --ours before=/tmp/old --ours after=.   # two trees, one run
    python bench/rounds.py --env COMMENTS_ACCESS_LOG=on      # a setting for every server
    python bench/rounds.py --ours log=.@COMMENTS_ACCESS_LOG=on --ours quiet=.@COMMENTS_ACCESS_LOG=0

Each `--ours LABEL=DIR` runs `comments serve --workers 2` from that source tree (DIR on
PYTHONPATH, e.g. a `git archive` of an earlier commit), on its own SQLite file seeded through its
own API with the same comments: a thread of 100 and 20 threads of 5. The ceiling serves our
thread-100 first page byte for byte. Every round loads each server in turn with wrk for
`--duration` seconds (warmed first), so the ratios hold while other processes come and go.
A scenario a server does not answer as expected (a tree older than the request) is left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import loadgen
import probes
import servers
from data import SEED
from scenarios import EMBED_HEADERS, JSON_BODY, Ours, Request

ROOT = Path(__file__).resolve().parent.parent
PAGE = Ours.thread("/rounds/thread-100/", 50)
COUNT_URIS = [f"/rounds/index-{n}/" for n in range(20)]
SCENARIOS = {
    "page": (PAGE, {}),
    "304": (PAGE, {"If-None-Match": "etag"}),  # filled in from the server's answer
    "counts POST": (Ours.counts(COUNT_URIS), {}),
    "counts GET": (Request("GET", "/api/counts?" + urlencode({"uri": COUNT_URIS}, True)), {}),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", action="append", metavar="LABEL=DIR", help="a source tree")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3, help="seconds per load")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--scenarios", default="page,304,counts POST,counts GET")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures here too")
    return parser.parse_args()


def seed(port: int) -> None:
    """The same comments on every server, posted through its API."""
    connection = probes.connect(port)
    plan = [("/rounds/thread-100/", 100)] + [(uri, 5) for uri in COUNT_URIS]
    for uri, count in plan:
        for n in range(count):
            text = f"{SEED} comment {n} of {uri}: " + "a reasonably long sentence, " * (n % 9 + 3)
            body = json.dumps({"uri": uri, "text": text, "author": f"Reader {n}"}).encode()
            answer = probes.send(connection, Request("POST", "/api/comments", body, JSON_BODY))
            if answer.status != 201:
                raise RuntimeError(f"seeding answered {answer.status}: {answer.body[:300]!r}")
    connection.close()


def start_ours(stack: ExitStack, label: str, spec: str, workdir: Path, env: dict) -> servers.Server:
    """`spec` is DIR, or DIR@NAME=VALUE,NAME=VALUE for settings of this server alone."""
    tree, _, own = spec.partition("@")
    port = servers.free_port()
    environ = servers.our_environment(workdir / f"ours-{label}", None, port)
    environ.update(env)
    environ.update(item.split("=", 1) for item in own.split(",") if item)
    environ["PYTHONPATH"] = str(Path(tree).resolve())
    log = workdir / f"ours-{label}.log"
    server = stack.enter_context(
        servers.running(servers.our_command(), environ, port, Ours.ready, log)
    )
    seed(port)
    return server


def load_once(
    server: servers.Server, asked: Request, headers: dict, args, workdir: Path
) -> dict | None:
    expected = 304 if "If-None-Match" in headers else 200
    if probes.fetch(server.port, asked, **headers).status != expected:
        return None
    arguments = [asked.method]
    if asked.body:
        body_file = workdir / f"body-{abs(hash(asked.body))}"
        body_file.write_bytes(asked.body)
        arguments.append(str(body_file))
    url = f"http://{servers.HOST}:{server.port}{asked.path}"
    script = loadgen.script_file("static", workdir)
    sent = {**EMBED_HEADERS, **asked.headers, **headers}
    loadgen.run_wrk(url, script, arguments, sent, 1, args.connections)  # warm every worker
    before = server.cpu_seconds()
    metrics = loadgen.run_wrk(url, script, arguments, sent, args.duration, args.connections)
    cpu = server.cpu_seconds() - before
    return {"rps": metrics["rps"], "cpu_ms": 1000 * cpu / max(metrics["requests"], 1)}


def main() -> None:
    args = parse_args()
    trees = dict(item.split("=", 1) for item in (args.ours or [f"ours={ROOT}"]))
    env = dict(item.split("=", 1) for item in args.env)
    wanted = [name.strip() for name in args.scenarios.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="comments-rounds-"))
    figures: dict[str, dict[str, list[dict]]] = {}
    with ExitStack() as stack:
        ours = {label: start_ours(stack, label, t, workdir, env) for label, t in trees.items()}
        first = next(iter(ours.values()))
        answer = probes.fetch(first.port, PAGE)
        body_path = workdir / "ceiling-body"
        body_path.write_bytes(answer.wire)
        environ = {**servers.os.environ, "BENCH_CEILING_BODY": str(body_path)}
        port = servers.free_port()
        ceiling = stack.enter_context(
            servers.running(
                servers.ceiling_command(port), environ, port, "/", workdir / "ceiling.log"
            )
        )
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}", file=sys.stderr, flush=True)
            row = figures.setdefault("ceiling", {}).setdefault("page", [])
            row.append(load_once(ceiling, Request("GET", "/"), {}, args, workdir))
            for label, server in ours.items():
                for name in wanted:
                    asked, headers = SCENARIOS[name]
                    if name == "304":
                        headers = {"If-None-Match": probes.fetch(server.port, PAGE).headers["etag"]}
                    found = load_once(server, asked, headers, args, workdir)
                    if found is not None:
                        figures.setdefault(label, {}).setdefault(name, []).append(found)
    print(table(figures, args))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


def table(figures: dict, args) -> str:
    ceiling = figures["ceiling"]["page"]
    lines = [
        f"{args.rounds} rounds of {args.duration} s, {args.connections} connections; medians",
        "",
        "| server | scenario | req/s | CPU ms/req | / ceiling req/s (median of rounds) |",
        "|---|---|---:|---:|---:|",
    ]
    for label, scenarios in figures.items():
        for name, runs in scenarios.items():
            rps = statistics.median(f["rps"] for f in runs)
            cpu = statistics.median(f["cpu_ms"] for f in runs)
            ratios = [f["rps"] / c["rps"] for f, c in zip(runs, ceiling, strict=False)]
            ratio = "" if label == "ceiling" else f"{statistics.median(ratios):.2f}"
            lines.append(f"| {label} | {name} | {rps:,.0f} | {cpu:.3f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

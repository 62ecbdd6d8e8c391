"""The run's results as Markdown: one table of measurements, then the issue's targets."""

from __future__ import annotations

from scenarios import (
    BEST_READ,
    COLD_PERMALINK,
    COLD_READS,
    CONDITIONAL,
    COUNTS,
    PERMALINK,
    POSTING,
    READS,
)

SITES = ("small", "big")
MIB = 1024 * 1024
NONE = "-"
FIRST_100 = READS[2][0]
FIRST_10K = READS[6][0]
COLD_ROWS = [label for label, _ in COLD_READS]
COLD_100 = COLD_ROWS[0]


def number(value: float | None) -> str:
    if value is None:
        return NONE
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(top: float | None, bottom: float | None) -> str:
    return f"{top / bottom:.2f}" if top and bottom else NONE


def metrics_of(results: dict, server: str, site: str, row: str) -> dict | None:
    return results.get(server, {}).get(site, {}).get(row)


def value(results: dict, server: str, site: str, row: str, key: str = "rps") -> float | None:
    metrics = metrics_of(results, server, site, row)
    return metrics.get(key) if metrics else None


def cell(metrics: dict | None, key: str) -> str:
    if not metrics:
        return NONE
    return number(metrics.get(key)) + ("†" if metrics.get("errors") else "")


def table(results: dict) -> str:
    """Ours on the small and on the big site, the ceiling, Isso, and the ratios between them."""
    lines = [
        "| scenario | small req/s | p50 ms | p99 ms | CPU ms/req | big req/s | p50 ms | p99 ms "
        "| big/small | Isso small req/s | Isso big req/s | ours/Isso small | ours/Isso big |",
        "|---|" + "---:|" * 12,
    ]
    rows = [label for label, _, _ in READS] + [PERMALINK[0], COUNTS, CONDITIONAL, *COLD_ROWS]
    rows.insert(rows.index(FIRST_100) + 1, BEST_READ[0])  # beside the same page oldest first
    for row in [*rows, COLD_PERMALINK, POSTING]:
        small, big = (metrics_of(results, "ours", site, row) for site in SITES)
        if not small and not big:
            continue
        ours = [value(results, "ours", site, row) for site in SITES]
        isso = [metrics_of(results, "isso", site, row) for site in SITES]
        isso_rps = [metrics["rps"] if metrics else None for metrics in isso]
        lines.append(
            f"| {row} | {cell(small, 'rps')} | {cell(small, 'p50_ms')} | {cell(small, 'p99_ms')} "
            f"| {cell(small, 'cpu_ms_per_request')} "
            f"| {cell(big, 'rps')} | {cell(big, 'p50_ms')} | {cell(big, 'p99_ms')} "
            f"| {ratio(ours[1], ours[0])} | {cell(isso[0], 'rps')} | {cell(isso[1], 'rps')} "
            f"| {ratio(ours[0], isso_rps[0])} | {ratio(ours[1], isso_rps[1])} |"
        )
    ceiling = results["ceiling"]
    lines.append(
        f"| bare Starlette, same {ceiling['body_bytes']:,}-byte body (the ceiling) "
        f"| {cell(ceiling, 'rps')} | {cell(ceiling, 'p50_ms')} | {cell(ceiling, 'p99_ms')} "
        f"| {cell(ceiling, 'cpu_ms_per_request')} " + "| " * 8 + "|"
    )
    mib = {
        (server, site): results[server][site]["peak_rss"] / MIB
        for server in ("ours", "isso")
        for site in SITES
        if server in results
    }
    ours_mib = [mib.get(("ours", site)) for site in SITES]
    isso_mib = [mib.get(("isso", site)) for site in SITES]
    lines.append(
        f"| peak memory, MiB (sum of RSS of the server's processes) | {number(ours_mib[0])} "
        f"| | | | {number(ours_mib[1])} | | | {ratio(ours_mib[1], ours_mib[0])} "
        f"| {number(isso_mib[0])} | {number(isso_mib[1])} "
        f"| {ratio(ours_mib[0], isso_mib[0])} | {ratio(ours_mib[1], isso_mib[1])} |"
    )
    return "\n".join(lines)


def notes(results: dict) -> list[str]:
    """What the table needs said: the load, errors, pages that differ between ours and Isso."""
    machine = results["machine"]
    found = [
        "Loaded: "
        + "; ".join(
            f"{server} {figures['comments']} comments in {figures['seconds']} s"
            for server, figures in results["loaded"].items()
        )
        + ".",
        f"Machine: {machine['cores']} cores; load average {machine['load_average_before']:.2f} "
        f"before, {machine['load_average_after']:.2f} after; {results['minutes']} minutes in all. "
        "Other processes' load lowers every figure but CPU ms/req (the server's CPU time per "
        "answer).",
    ]
    for server in ("ours", "isso"):
        for site in SITES:
            for row, metrics in results.get(server, {}).get(site, {}).items():
                if not isinstance(metrics, dict):
                    continue
                if metrics.get("errors"):
                    found.append(f"† {server}, {site} site, {row}: {metrics['error_kinds']}.")
                if metrics.get("requests") == 0:
                    found.append(f"{server}, {site} site, {row}: no answer within the run.")
    found += best_against_oldest(results)
    if "isso" in results:
        for label, _, _ in READS:
            ours, isso = (
                value(results, server, "small", label, "comments") for server in ("ours", "isso")
            )
            if ours is not None and ours != isso:
                found.append(f"{label}: our page holds {ours} comments, Isso's {isso}.")
    return found


def best_against_oldest(results: dict) -> list[str]:
    """The cached first page of the thread of 100 in the best order against oldest first."""
    found = []
    for site in SITES:
        best, oldest = (metrics_of(results, "ours", site, row) for row in (BEST_READ[0], FIRST_100))
        if best and oldest:
            found.append(
                f"{site} site, thread of 100, first page: best order {number(best['rps'])} req/s "
                f"(CPU {number(best['cpu_ms_per_request'])} ms/req), oldest first "
                f"{number(oldest['rps'])} req/s (CPU {number(oldest['cpu_ms_per_request'])} "
                f"ms/req): best/oldest {ratio(best['rps'], oldest['rps'])} in req/s."
            )
    return found


def markdown(results: dict) -> str:
    where = "PostgreSQL" if results["database"] == "postgresql" else "SQLite"
    settings = results["settings"]
    heading = (
        f"### comments on {where}, {settings['profile']} data: wrk, {settings['connections']} "
        f"connections, 2 threads, {settings['duration']} s per scenario after "
        f"{settings['warmup']} s of warm-up"
    )
    parts = [heading, "", table(results), "", targets(results), ""]
    return "\n".join(parts + ["- " + note for note in notes(results)])


def worst_ratio(results: dict, rows: list[str], key: str, ratio_of) -> tuple[str, float]:
    """The row whose big-site figure compares worst with the small site's, and that ratio."""
    ratios = []
    for row in rows:
        small, big = (value(results, "ours", site, row, key) for site in SITES)
        if small and big:
            ratios.append((row, ratio_of(big, small)))
    return min(ratios, key=lambda item: item[1])


Check = tuple[str, str, bool]  # target, what was measured, met


def check_ceiling(results: dict) -> list[Check]:
    first = metrics_of(results, "ours", "small", FIRST_100)
    share = first["rps"] / results["ceiling"]["rps"]
    return [
        (
            "thread of 100, first page: at least 60% of the bare-Starlette ceiling",
            f"{number(first['rps'])} / {number(results['ceiling']['rps'])} req/s = {share:.0%}",
            share >= 0.6,
        ),
        ("… and its p99 under 25 ms", f"{number(first['p99_ms'])} ms", first["p99_ms"] < 25),
    ]


def check_cold_read(results: dict) -> list[Check]:
    cold = metrics_of(results, "ours", "small", COLD_100)
    return [
        (
            "first read after a write, thread of 100, 1 connection: under 15 ms",
            f"median {number(cold['p50_ms'])} ms of {cold['samples']} "
            f"(p90 {number(cold['p90_ms'])})",
            cold["p50_ms"] < 15,
        )
    ]


def check_flat(results: dict) -> list[Check]:
    """Cost flat in site size. Cost is the server's CPU per answer, which other processes on the
    machine disturb least, and for a cache miss the latency at one connection."""
    rows = [label for label, _, _ in READS] + [COUNTS, CONDITIONAL]
    speed = worst_ratio(results, rows, "rps", lambda big, small: big / small)
    cost = worst_ratio(results, rows, "cpu_ms_per_request", lambda big, small: small / big)
    cold = worst_ratio(results, COLD_ROWS, "p50_ms", lambda big, small: small / big)
    counts = [metrics_of(results, "ours", site, COUNTS) for site in SITES]
    counts_cost = counts[0]["cpu_ms_per_request"] / counts[1]["cpu_ms_per_request"]
    return [
        (
            "big site within 10% of the small one, every read",
            f"worst small/big CPU per request {cost[1]:.2f} ({cost[0]}); worst small/big "
            f"first read after a write {cold[1]:.2f}; worst big/small req/s {speed[1]:.2f} "
            f"({speed[0]})",
            cost[1] >= 0.9 and cold[1] >= 0.9,
        ),
        (
            "counts for 20 URIs flat in site size",
            f"small/big CPU per request {counts_cost:.2f}; big/small req/s "
            f"{counts[1]['rps'] / counts[0]['rps']:.2f}",
            counts_cost >= 0.9,
        ),
    ]


def check_large_thread(results: dict) -> list[Check]:
    checks = []
    first_100 = metrics_of(results, "ours", "small", FIRST_100)
    first_10k = metrics_of(results, "ours", "small", FIRST_10K)
    cold_100, cold_10k = (metrics_of(results, "ours", "small", row) for row in COLD_ROWS)
    if first_10k and cold_10k:
        cpu = first_100["cpu_ms_per_request"] / first_10k["cpu_ms_per_request"]
        cold = cold_100["p50_ms"] / cold_10k["p50_ms"]
        checks.append(
            (
                "thread of 10,000, first page as fast as 100 (within 10%)",
                f"CPU per request {number(first_10k['cpu_ms_per_request'])} vs "
                f"{number(first_100['cpu_ms_per_request'])} ms; first read after a write "
                f"{number(cold_10k['p50_ms'])} vs {number(cold_100['p50_ms'])} ms; "
                f"{number(first_10k['rps'])} vs {number(first_100['rps'])} req/s",
                cpu >= 0.9 and cold >= 0.9,
            )
        )
    checks += check_permalink(results)
    walk = results["walk"]
    checks.append(
        (
            f"last page of the thread of {walk['size']:,} reachable by cursor",
            f"{walk['pages']} pages of 200, {walk['comments']:,} comments, "
            f"{walk['seconds']:.2f} s in all",
            walk["comments"] == walk["size"],
        )
    )
    return checks


def check_permalink(results: dict) -> list[Check]:
    """The page of a permalink deep in the largest thread costs no more than its first page."""
    first, deep = (metrics_of(results, "ours", "small", row) for row in (FIRST_10K, PERMALINK[0]))
    cold_first, cold_deep = (
        metrics_of(results, "ours", "small", row) for row in (COLD_ROWS[-1], COLD_PERMALINK)
    )
    if not (first and deep and cold_first and cold_deep):
        return []
    cpu = first["cpu_ms_per_request"] / deep["cpu_ms_per_request"]
    cold = cold_first["p50_ms"] / cold_deep["p50_ms"]
    return [
        (
            "permalink to the 9,990th of 10,000 comments: no dearer than the first page (10%)",
            f"CPU per request {number(deep['cpu_ms_per_request'])} vs "
            f"{number(first['cpu_ms_per_request'])} ms; first read after a write "
            f"{number(cold_deep['p50_ms'])} vs {number(cold_first['p50_ms'])} ms; "
            f"{number(deep['rps'])} vs {number(first['rps'])} req/s",
            cpu >= 0.9 and cold >= 0.9,
        )
    ]


def check_posting(results: dict) -> list[Check]:
    on_sqlite = results["database"] == "sqlite"
    checks = []
    for site in SITES:
        posting = metrics_of(results, "ours", site, POSTING)
        created = posting["statuses"].get("201", 0)
        sound = not posting["errors"] and posting["rows"] >= created
        rate = "500 comments/s on SQLite, " if on_sqlite else ""
        checks.append(
            (
                f"posting ({site} site): {rate}no errors, every 201 in the database",
                f"{number(posting['rps'])}/s; {created:,} answered 201, {posting['rows']:,} rows "
                f"found ({posting['in_flight']} in flight at the end), {posting['errors']} errors",
                sound and (posting["rps"] >= 500 or not on_sqlite),
            )
        )
    return checks


def targets(results: dict) -> str:
    """The issue's targets, each with what was measured and whether it was met."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    for check in (check_ceiling, check_cold_read, check_flat, check_large_thread, check_posting):
        for target, measured, met in check(results):
            lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)

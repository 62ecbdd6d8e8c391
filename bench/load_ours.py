"""Our databases: the generated sites written through the project's own code; checks after a run.

Every text goes through the sanitizer (`render_markdown`) and every row through the store functions
`CommentService.submit` uses (`ensure_thread`, `insert_comment`, `refresh_thread`), one transaction
per thread. `submit` itself (one transaction per comment, with all its checks) is too slow to load
100,000 comments in a benchmark run (see the README); the posting scenario runs it over HTTP.
Comments carry votes (data.thread_votes), set in the same transaction as the votes API keeps them,
so the best order has something to rank.
Rendering Markdown is most of the cost, so threads are generated and rendered in a process per core,
and the HTML is kept for the next run (see rendered.py).
"""

from __future__ import annotations

import multiprocessing
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from data import Entry, GenThread, make_thread, single_plan, site_plan, thread_votes
from rendered import RenderedCache, cache_path
from sqlalchemy import bindparam, func, select, update

from comments import db, store
from comments.config import Config
from comments.db import transaction
from comments.models import Status
from comments.sanitize import render_markdown
from comments.tables import comments
from comments.tokens import Tokens


def ip_of(entry: Entry) -> str:
    # A documentation address per author: only ever hashed, never contacted.
    return f"192.0.2.{zlib.crc32((entry.author.name or '').encode()) % 250 + 1}"


# The render cache of a pool worker: each worker process opens its own connection.
worker_cache: RenderedCache | None = None


def open_worker_cache(path: Path) -> None:
    global worker_cache
    worker_cache = RenderedCache(path)


def prepare(job: tuple[str, int]) -> tuple[GenThread, list[str]]:
    """In a pool worker: generate a thread and render its texts (or find them rendered)."""
    thread = make_thread(*job)
    texts = [entry.text for entry in thread.entries]
    htmls = worker_cache.get(texts)
    if htmls is None:
        htmls = [render_markdown(text) for text in texts]
        worker_cache.put(texts, htmls)
    return thread, htmls


def write_thread(
    engine: db.Engine, tokens: Tokens, host: str, thread: GenThread, htmls: list[str]
) -> int:
    start = datetime.fromtimestamp(thread.entries[0].created, UTC)
    with transaction(engine, write=True) as conn:
        row = store.threads.ensure_thread(conn, host, thread.uri, thread.title, start)
        written = []
        for entry, html in zip(thread.entries, htmls, strict=True):
            ip_hash = tokens.hash_ip(ip_of(entry))
            author = entry.author
            written.append(
                store.threads.insert_comment(
                    conn,
                    thread_id=row.id,
                    parent=written[entry.parent] if entry.parent is not None else None,
                    author=author.name,
                    email=author.email,
                    website=author.website,
                    text=entry.text,
                    html=html,
                    status=Status.APPROVED,
                    created=datetime.fromtimestamp(entry.created, UTC),
                    ip_hash=ip_hash,
                    avatar=tokens.avatar(author.email or author.name or ip_hash),
                )
            )
        voted = [
            {"b_id": comment.id, "b_votes": votes}
            for comment, votes in zip(written, thread_votes(thread), strict=True)
            if votes
        ]
        if voted:
            conn.execute(SET_VOTES, voted)
        store.threads.refresh_thread(conn, row.id)
    return len(written)


SET_VOTES = (
    update(comments).where(comments.c.id == bindparam("b_id")).values(votes=bindparam("b_votes"))
)


def load(configs: dict[str, Config], host: str, profile: str) -> dict[str, object]:
    """Migrate each site's database, then write its own threads and the single threads."""
    began = time.perf_counter()
    counts = dict.fromkeys(configs, 0)
    with multiprocessing.Pool(initializer=open_worker_cache, initargs=(cache_path(),)) as pool:
        engines = {site: db.create_engine(config.database_url) for site, config in configs.items()}
        tokens = {site: Tokens(config.secret_key) for site, config in configs.items()}
        for engine in engines.values():
            db.migrate(engine)
        for site in configs:
            for thread, htmls in pool.imap(prepare, site_plan(profile, site)):
                counts[site] += write_thread(engines[site], tokens[site], host, thread, htmls)
        # The single threads are the same on every site: rendered once, written to each.
        for thread, htmls in pool.imap(prepare, single_plan(profile)):
            for site in configs:
                counts[site] += write_thread(engines[site], tokens[site], host, thread, htmls)
        for engine in engines.values():
            analyze(engine)
            engine.dispose()
    return {"comments": counts, "seconds": round(time.perf_counter() - began, 1)}


def analyze(engine: db.Engine) -> None:
    """What autovacuum does after a load like this one (PostgreSQL 13 and later vacuum a table
    that grew by inserts, not only one with dead rows): the planner's statistics (without them it
    takes 100,000 rows for none, and pages of the largest thread take seconds) and the visibility
    map (without it, a count over an index, such as a permalink's position, visits every row's
    page). A test server may run without autovacuum, or not have got to it yet. SQLite's are
    left alone: the server never gathers them."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def count_posted(database_url: str, nonce: str) -> int:
    """Rows written by a posting run (their texts start with the run's nonce)."""
    engine = db.create_engine(database_url)
    try:
        with transaction(engine) as conn:
            return conn.execute(
                select(func.count()).where(comments.c.text.like(f"Comment {nonce}-%"))
            ).scalar_one()
    finally:
        engine.dispose()

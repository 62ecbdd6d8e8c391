"""The best order of a thread's pages: by readers' votes, decaying as the discussion moves on.

Top-level comments rank by score = (votes + 1) / (newer + 2) ** 0.8, where `newer` is how many
of the thread's listed top-level comments came after this one (0 for the newest): a new comment
without votes shows near the top, and one stays up as long as its votes keep ahead of the
comments that follow it. It decays with how far the discussion has moved on, not with the clock,
so the order changes only when the thread does (a comment or a vote moves its version) and a
page stays cached, and its ETag valid, until then. Equal scores: the newer first. Replies keep
their oldest-first order, and which top-level comments are listed is as in the other orders
(threads.has_visible). Pages are read by place in this order (offsets), not from a comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select

from comments.models import Comment
from comments.store.rows import comment_of
from comments.store.threads import has_visible
from comments.tables import comments


def _best_roots_statement(around: bool):
    """The listed top-level comments' ids and votes, oldest first (their places, which the
    score needs); with `around`, a column saying which one holds the comment b_comment_id of
    this thread (its lookup an uncorrelated scalar subquery: run once, not once a row)."""
    top = comments.alias("top")
    thread_id = bindparam("b_thread_id")
    columns = [top.c.id, top.c.votes]
    if around:
        asked = comments.alias("asked")
        root_of = (
            select(asked.c.root_id)
            .where(asked.c.id == bindparam("b_comment_id"), asked.c.thread_id == thread_id)
            .scalar_subquery()
        )
        columns.append((top.c.id == root_of).label("holds"))
    return (
        select(*columns)
        .where(top.c.thread_id == thread_id, top.c.parent_id.is_(None), has_visible(top, thread_id))
        .order_by(top.c.created, top.c.id)  # ix_comments_thread_top
    )


BEST_ROOTS = {around: _best_roots_statement(around) for around in (False, True)}
SUBTREES = select(comments).where(
    comments.c.thread_id == bindparam("b_thread_id"),
    comments.c.root_id.in_(bindparam("b_roots", expanding=True)),
)


def rank(oldest_first: Sequence[tuple[int, int]]) -> list[int]:
    """The ids of (id, votes) pairs listed oldest first, best first.

    The ranking is done here, not in SQL: a score needs each comment's place among the others,
    a window over the whole thread on both databases, and SQLite has no pow() unless built with
    its math functions. It compares score ** 5 = (votes + 1) ** 5 / (newer + 2) ** 4, the same
    order in integers: Python divides two integers correctly rounded, so equal scores are equal
    floats and the tie rule decides them, on every machine (pow(x, 0.8) of two equal scores can
    differ in the last bit). A few milliseconds for 7,000 comments.
    """
    newest = len(oldest_first) - 1
    ranked = sorted(
        (-((votes + 1) ** 5) / (newest - place + 2) ** 4, newest - place, comment_id)
        for place, (comment_id, votes) in enumerate(oldest_first)
    )
    return [comment_id for _, _, comment_id in ranked]


class BestPage(NamedTuple):
    comments: list[Comment]  # the page's top-level comments and everything below, in no order
    roots: list[int]  # the page's top-level comments' ids, best first
    start: int  # their first one's place in the best order (0: the first page)
    total: int  # the thread's listed top-level comments
    placed: bool  # the page opens with the top-level comment holding `around`


def page_of_thread(
    conn: Connection,
    thread_id: int,
    limit: int,
    *,
    after: int | None = None,
    before: int | None = None,
    around: int | None = None,
) -> BestPage:
    """A page of the thread in the best order: the top-level comments at places [after,
    after + limit), or the `limit` places ending just before `before`, or, for `around`, those
    from the place of the top-level comment holding it (when it is listed: else the first page),
    each with everything below it. Two statements, whatever the anchor: the order, then the
    page's subtrees as threads.page_of_thread reads them (root_id IN ..., ix_comments_thread_root).
    """
    parameters = {"b_thread_id": thread_id, "b_comment_id": around or 0}
    rows = conn.execute(BEST_ROOTS[bool(around)], parameters).all()
    order = rank([(row.id, row.votes) for row in rows])
    held = next((row.id for row in rows if row.holds), None) if around else None
    if held is not None:
        start = order.index(held)
    elif before is not None:
        start = max(0, min(before, len(order)) - limit)
        limit = min(before, len(order)) - start
    else:
        start = after or 0
    roots = order[start : start + limit]
    found = conn.execute(SUBTREES, {"b_thread_id": thread_id, "b_roots": roots}) if roots else []
    return BestPage([comment_of(row) for row in found], roots, start, len(order), held is not None)

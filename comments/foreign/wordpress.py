"""WordPress (WXR 1.0, 1.1, 1.2): <rss><channel> holds the blog's <link> and <wp:base_blog_url>,
then an <item> per post or page, each with its <wp:comment>s (namespaces differ by version; only
local names are read)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from comments.foreign.base import (
    BadRecord,
    ForeignComment,
    ForeignThread,
    Markup,
    MeterFactory,
    Record,
    State,
    quiet,
)
from comments.foreign.xml import XmlSource, body, forget, invalid, local, text, time_of, where

_STATES = {
    "1": State.APPROVED,
    "approve": State.APPROVED,
    "0": State.PENDING,
    "hold": State.PENDING,
    "spam": State.SPAM,
    "trash": State.DELETED,
    "post-trashed": State.DELETED,
}
_NO_TIME = "0000-00-00 00:00:00"
# A post readers cannot see there: its comments must not show here either.
_HIDDEN_POSTS = {"private": "private post", "trash": "deleted post", "draft": "draft post"}


def blog_of(url: str) -> str:
    """A blog's key: its host, and its path when it is not at the root (two blogs on one
    host, example.org/a and example.org/b, count their comment ids apart)."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return (parts.hostname or "").lower() + path


class WordPress(XmlSource):
    name = "wordpress"
    root = "rss"
    elements = ("<item>", "<wp:comment>")

    def __init__(self, path: str | Path, meter: MeterFactory = quiet) -> None:
        super().__init__(path, meter)
        # Keys are "wordpress:<blog>:<comment id>": ids count per blog. The blog's address
        # heads the file; the first pass remembers it for the second.
        self.blog = ""

    def _read(self, label: str) -> Iterator[Record]:
        items = 0
        for depth, element in self._elements(label):
            kind = local(element)
            if depth == 3 and kind in ("link", "base_blog_url") and not self.blog:
                self.blog = blog_of(element.text or "")
            if depth == 4 and kind == "comment":
                try:
                    yield self._comment(element, f"item-{items + 1}")
                except BadRecord as error:
                    yield invalid(element, error)
                element.getparent().remove(element)  # the item's own fields stay until its end
            elif depth == 3:
                if kind == "item":
                    items += 1
                    try:
                        yield self._item(element, f"item-{items}")
                    except BadRecord as error:
                        yield invalid(element, error)
                forget(element)

    def _item(self, element, key: str) -> ForeignThread:
        dated = text(element, "post_date_gmt")[:4] not in ("", "0000")  # drafts have none
        hidden = _HIDDEN_POSTS.get(text(element, "status"))
        if text(element, "post_password"):
            hidden = "protected post"
        return ForeignThread(
            key=key,
            url=text(element, "link"),
            title=text(element, "title"),
            created=time_of(element, "post_date_gmt") if dated else None,
            closed=text(element, "comment_status") == "closed",
            hidden=hidden,
            where=where(element),
        )

    def _comment(self, element, thread: str) -> ForeignComment:
        comment_id = text(element, "comment_id")
        if not comment_id.isdigit():
            raise BadRecord(f"has no valid <wp:comment_id>: {comment_id!r}")
        parent = text(element, "comment_parent")
        if parent and not parent.isdigit():
            raise BadRecord(f"has no valid <wp:comment_parent>: {parent!r}")
        gmt = text(element, "comment_date_gmt")
        created = time_of(
            element, "comment_date_gmt" if gmt and gmt != _NO_TIME else "comment_date"
        )
        assert created is not None
        kind = text(element, "comment_type")
        return ForeignComment(
            key=f"wordpress:{self.blog}:{comment_id}",
            thread=thread,
            parent=f"wordpress:{self.blog}:{parent}" if parent not in ("", "0") else None,
            body=body(element, "comment_content"),
            markup=Markup.WORDPRESS,
            created=created,
            # Anything else a plugin invented waits for a moderator rather than show at once.
            state=_STATES.get(text(element, "comment_approved"), State.PENDING),
            author=text(element, "comment_author") or None,
            email=text(element, "comment_author_email") or None,
            website=text(element, "comment_author_url") or None,
            ip=text(element, "comment_author_IP") or None,
            # Pingbacks, trackbacks and plugins' private notes (WooCommerce's order notes) are
            # not readers' comments.
            excluded=kind if kind not in ("", "comment") else None,
            where=where(element),
        )

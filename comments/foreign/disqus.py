"""Disqus: <disqus> holds <category>, <thread dsq:id> and <post dsq:id> elements, in any order."""

from __future__ import annotations

from collections.abc import Iterator

from comments.foreign.base import BadRecord, ForeignComment, ForeignThread, Markup, Record, State
from comments.foreign.xml import (
    XmlSource,
    body,
    child,
    forget,
    invalid,
    local,
    text,
    time_of,
    where,
)

_DSQ_ID = "{http://disqus.com/disqus-internals}id"


def _id(element) -> str:
    found = (element.get(_DSQ_ID) or "").strip()
    if not found:
        raise BadRecord("has no dsq:id")
    return found


class Disqus(XmlSource):
    name = "disqus"
    root = "disqus"
    elements = ("<thread>", "<post>")

    def _read(self, label: str) -> Iterator[Record]:
        for depth, element in self._elements(label):
            if depth != 2:
                continue
            kind = local(element)
            try:
                if kind == "thread":
                    yield self._thread(element)
                elif kind == "post":
                    yield self._post(element)
            except BadRecord as error:
                yield invalid(element, error)
            forget(element)

    def _thread(self, element) -> ForeignThread:
        return ForeignThread(
            key=_id(element),
            url=text(element, "link"),
            title=text(element, "title"),
            created=time_of(element, "createdAt", required=False),
            closed=text(element, "isClosed") == "true",
            hidden="deleted thread" if text(element, "isDeleted") == "true" else None,
            where=where(element),
        )

    def _post(self, element) -> ForeignComment:
        key = _id(element)
        thread = child(element, "thread")
        if thread is None:
            raise BadRecord(f"{key} names no <thread dsq:id>")
        parent = child(element, "parent")
        author = child(element, "author")
        created = time_of(element, "createdAt")
        assert created is not None
        if text(element, "isSpam") == "true":
            state = State.SPAM
        elif text(element, "isDeleted") == "true":
            state = State.DELETED
        else:
            state = State.APPROVED
        name = email = None
        if author is not None:
            name = text(author, "name") or text(author, "username") or None
            email = text(author, "email") or None
        return ForeignComment(
            key=f"disqus:{key}",
            thread=_id(thread),
            parent=f"disqus:{_id(parent)}" if parent is not None else None,
            body=body(element, "message"),
            markup=Markup.HTML,
            created=created,
            state=state,
            author=name,
            email=email,
            ip=text(element, "ipAddress") or None,
            where=where(element),
        )

"""Streaming XML exports (Disqus, WordPress): elements as they end, memory kept flat."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from lxml import etree

from comments.foreign.base import BadRecord, Invalid, Meter, Source, moment


class _MeteredFile:
    """A file that moves the progress bar as the parser reads it."""

    def __init__(self, file: BinaryIO, meter: Meter) -> None:
        self._file = file
        self._meter = meter

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._meter.update(len(data))
        return data


_ERROR_POSITION = re.compile(r",? line \d+, column \d+$")


def local(element) -> str:
    """The tag without its namespace ("{http://disqus.com}post" -> "post"); read for every
    element of the file, so by hand rather than through etree.QName (three times as slow)."""
    return element.tag.rpartition("}")[2]


def child(element, name: str):
    for found in element:
        if isinstance(found.tag, str) and local(found) == name:
            return found
    return None


def text(element, name: str) -> str:
    """The text of the first child called `name` (any namespace), CDATA included; '' if none."""
    found = child(element, name)
    return (found.text or "").strip() if found is not None else ""


def body(element, name: str) -> str:
    """Like text(), but as written: a comment's leading spaces may be code."""
    found = child(element, name)
    return found.text or "" if found is not None else ""


def forget(element) -> None:
    """Drop an element that was read, and what came before it, so memory stays flat."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def where(element) -> str:
    return f"line {element.sourceline}"


def invalid(element, error: BadRecord) -> Invalid:
    prefix = element.prefix
    name = f"{prefix}:{local(element)}" if prefix else local(element)
    return Invalid(where(element), f"<{name}>", str(error))


def time_of(element, name: str, required: bool = True) -> datetime | None:
    """The time in the child `name`; raises BadRecord when it is missing or no time."""
    raw = text(element, name)
    if not raw and not required:
        return None
    try:
        return moment(raw)
    except ValueError:
        raise BadRecord(f"has no valid <{name}>: {raw!r}") from None


class XmlSource(Source):
    """An XML export: elements come as they end, with their depth (the root is 1)."""

    root = ""

    def _elements(self, label: str) -> Iterator[tuple[int, etree._Element]]:
        meter = self.meter(f"{label} {self.path.name}", os.path.getsize(self.path), "B")
        depth = 0
        try:
            with open(self.path, "rb") as file:
                events = etree.iterparse(
                    _MeteredFile(file, meter),
                    events=("start", "end"),
                    remove_comments=True,
                    remove_pis=True,
                    resolve_entities=False,
                    no_network=True,
                    huge_tree=True,  # a long comment is a long text node, not an attack
                )
                for event, element in self._parsed(events):
                    if event == "start":
                        depth += 1
                        if depth == 1 and local(element) != self.root:
                            raise self._fail(
                                where(element),
                                f"<{local(element)}> is not the root of a {self.name} export "
                                f"(<{self.root}>)",
                            )
                        continue
                    yield depth, element
                    depth -= 1
        finally:
            meter.close()

    def _parsed(self, events) -> Iterator[tuple[str, etree._Element]]:
        try:
            yield from events
        except etree.XMLSyntaxError as error:
            message = _ERROR_POSITION.sub("", str(error.msg or error))
            line = error.lineno or (error.position[0] if error.position else 1)
            raise self._fail(f"line {line}", f"the XML is malformed: {message}") from None

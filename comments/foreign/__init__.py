"""Readers of other systems' comments: Disqus and WordPress exports (XML), Isso's database.

One module per source (disqus, wordpress, isso), the two-pass Source they share (base), the
streaming XML they have in common (xml), the first pass's notes on disk (scratch), and their
markup turned into ours (markup).
"""

from __future__ import annotations

from comments.foreign.base import (
    ForeignComment,
    ForeignThread,
    Invalid,
    Markup,
    Meter,
    MeterFactory,
    Plan,
    Source,
    State,
    quiet,
)
from comments.foreign.disqus import Disqus
from comments.foreign.isso import Isso
from comments.foreign.scratch import Scratch
from comments.foreign.wordpress import WordPress

SOURCES: dict[str, type[Source]] = {"disqus": Disqus, "wordpress": WordPress, "isso": Isso}

__all__ = [
    "SOURCES",
    "Disqus",
    "ForeignComment",
    "ForeignThread",
    "Invalid",
    "Isso",
    "Markup",
    "Meter",
    "MeterFactory",
    "Plan",
    "Scratch",
    "Source",
    "State",
    "WordPress",
    "quiet",
]

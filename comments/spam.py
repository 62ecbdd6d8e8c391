"""Signs that a comment needs a moderator's eyes: pure functions over its text and timing."""

from __future__ import annotations

import re
from collections.abc import Iterable

LINK = re.compile(r"(?i)\b(?:https?://|www\.)")


def count_links(text: str) -> int:
    return len(LINK.findall(text))


def has_blocked_word(text: str, words: Iterable[str]) -> bool:
    """Whole-word, case-insensitive; a phrase matches as written."""
    lowered = text.lower()
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered) for word in words)

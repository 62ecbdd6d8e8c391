"""The embed's files themselves: the size budget, the translations, the CSP-safe habits."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "static"
EMBED = (STATIC / "embed.js").read_text()


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def test_embed_fits_the_size_budget():
    """21 KB gzipped, script and stylesheet (12 KB until slow mode, the bot challenge and
    permalinks came, 15 KB until live updates came, 17 KB until verified readers came: the
    sign-in form and the return from the mailed link, the signed-in bar and the reader's panel
    with their comments, export and erasure, votes and the best sort: about 4.3 KB, most of it
    met by every reader (sign-in form, votes, marks), the panel too small to be worth a second
    request for signed-in readers only); a language other than English adds at most 1.75 KB
    (1 KB until the report form, slow mode, the challenge and deep threads brought their
    strings, 1.25 KB until verified readers did), fetched only by readers who need it."""
    embed = gzipped(STATIC / "embed.js") + gzipped(STATIC / "embed.css")
    assert embed <= 21 * 1024, embed
    largest_language = max(gzipped(path) for path in (STATIC / "i18n").glob("*.json"))
    assert largest_language <= 1792, largest_language


def test_every_language_has_every_key():
    block = re.search(r"\n    en: \{\n(.*?)\n    \},\n", EMBED, re.S).group(1)
    english = dict(re.findall(r"(\w+): '([^']*)'", block))
    listed = re.search(r"const LANGS = \[(.*?)\]", EMBED).group(1).replace("'", "").split(", ")
    files = {path.stem: json.loads(path.read_text()) for path in (STATIC / "i18n").glob("*.json")}
    assert sorted(listed) == sorted(["en", *files])
    for lang, strings in files.items():
        assert set(strings) == set(english), lang
        for key, text in strings.items():
            assert ("{n}" in text) == ("{n}" in english[key]), (lang, key)
            assert text.count("|") == english[key].count("|"), (lang, key)


def test_no_inline_styles_and_one_door_for_html():
    assert not re.search(
        r"\.style\b|setAttribute\('style'|<style|cssText|eval\(|new Function", EMBED
    )
    assert re.findall(r"(\w+)\.innerHTML = ([\w.]+);", EMBED) == [
        ("body", "c.html"),
        ("previewBody", "r.html"),
    ]

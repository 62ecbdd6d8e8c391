"""Display names compared as readers see them: the key a verified reader's name is reserved by.

`Rosa`, `ROSA`, `R0sa`, `R\u043esa` (a Cyrillic o), `R.o.s.a`, mathematical script letters and
`Rosa\u200b` all look like Rosa to a reader, so they have one key. decancer (a maintained table
of Unicode confusables, homoglyphs and styled letters) brings a name to plain lower-case
letters; then the digits and signs that stand in for letters are read as those letters, and
what is neither letter nor digit (spaces, dots, invisible characters) is dropped. The rule errs
on the side of the owner: two innocent names that look alike are refused as one, and the
second person picks another.
"""

from __future__ import annotations

import unicodedata

import decancer_py

# What still tells lookalikes apart after decancer: digits and signs used for letters, and the
# letters that read alike in most fonts (i, l and the pipe; rn and m).
STAND_INS = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"}
    | {"$": "s", "@": "a", "|": "l", "i": "l"}
)
MAX_KEY = 200


def name_key(name: str) -> str:
    """The key of a display name; "" when nothing in it is a letter or a digit."""
    # Accents go first (decomposed, their marks dropped): decancer 0.4 reads some accented
    # letters as others (ó as p).
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn"
    )
    cured = str(decancer_py.parse(plain)).translate(STAND_INS).replace("rn", "m").replace("vv", "w")
    kept = (char for char in cured if unicodedata.category(char)[0] in "LN")
    return "".join(kept)[:MAX_KEY]

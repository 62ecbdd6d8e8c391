"""The bot challenge: a proof of work the server asks for only under pressure, self-hosted.

The server signs a challenge (its own itsdangerous purpose) bound to the thread and to the form
stamp, with a random prefix and a difficulty; the reader's browser finds a `solution` such that
SHA-256(prefix ":" solution) starts with `difficulty` zero bits (about 2^difficulty tries, in the
embed), and the server checks it with one hash. A solution works once: its challenge is
remembered in the database until it expires. Nothing here is fetched from elsewhere, nothing is
kept in the browser.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from comments.errors import Problem
from comments.tokens import Purpose, Tokens

LIFETIME = timedelta(minutes=10)
SOLUTION = re.compile(r"[0-9a-z]{1,16}")


def bound_to(*values: str) -> str:
    """A short digest of what a challenge is for (the thread, the stamp)."""
    return hashlib.sha256("\0".join(values).encode()).hexdigest()[:16]


def solves(prefix: str, solution: str, difficulty: int) -> bool:
    """Whether SHA-256(prefix:solution) starts with `difficulty` zero bits."""
    digest = hashlib.sha256(f"{prefix}:{solution}".encode()).digest()
    return int.from_bytes(digest[:4]) >> (32 - difficulty) == 0 if difficulty else True


class Challenges:
    def __init__(self, tokens: Tokens, difficulty: int) -> None:
        self.tokens = tokens
        self.difficulty = difficulty

    def issue(self, thread: str, stamp: str, now: datetime) -> dict[str, Any]:
        """A new challenge for a post into `thread` (site and URI) with that form stamp."""
        prefix = secrets.token_hex(8)
        payload = {"t": bound_to(thread), "s": bound_to(stamp), "p": prefix, "d": self.difficulty}
        token = self.tokens.sign(Purpose.CHALLENGE, payload, now + LIFETIME)
        return {"token": token, "prefix": prefix, "difficulty": self.difficulty}

    def refuse(self, code: str, detail: str, thread: str, stamp: str, now: datetime) -> Problem:
        """A refusal carrying a fresh challenge, so the reader's browser can try again."""
        return Problem(code, detail, extra={"challenge": self.issue(thread, stamp, now)})

    def verify(
        self, token: str, solution: str, thread: str, stamp: str, now: datetime
    ) -> tuple[str, datetime]:
        """Raises challenge_invalid unless the solution solves a genuine, unexpired challenge of
        this thread and stamp; returns what to remember it by, and until when."""
        claim = self.tokens.read(Purpose.CHALLENGE, token, now)
        if claim is None:
            why = "The challenge is not one of ours, or it expired."
        elif claim.get("t") != bound_to(thread):
            why = "The challenge was given for another thread."
        elif claim.get("s") != bound_to(stamp):
            why = "The challenge was given for another form."
        elif not SOLUTION.fullmatch(solution) or not solves(
            str(claim.get("p")), solution, int(claim.get("d", 32))
        ):
            why = "The solution does not solve the challenge."
        else:
            return self.tokens.digest(token), now + LIFETIME
        raise self.refuse("challenge_invalid", why, thread, stamp, now)

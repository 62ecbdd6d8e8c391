"""Who is writing: a verified reader (by their token) or an anonymous one, and what each may
write as. A verified reader's name, and every name that looks like it, is theirs on the site, and
so is their address; moderators and the site's authors carry badges."""

from __future__ import annotations

from datetime import datetime

from comments import store
from comments.config import Config
from comments.db import Connection
from comments.errors import Problem
from comments.models import Badge, Commenters, Reader, Submission, Thread
from comments.names import name_key
from comments.tokens import Purpose, Tokens


def signed_in_reader(
    conn: Connection, tokens: Tokens, site: str, token: str, now: datetime
) -> Reader:
    """The reader a token from the embed names, still signed in on this site; else why not."""
    claim = tokens.read(Purpose.READER, token, now)
    reader = None
    if claim is not None and claim.get("s") == site and isinstance(claim.get("r"), int):
        reader = store.readers.get_reader(conn, claim["r"])
    if reader is None or claim is None or reader.session_epoch != claim.get("v"):
        raise Problem(
            "reader_token_invalid", "You are signed out (the sign-in expired or was ended)."
        )
    return reader


def badge_of(conn: Connection, config: Config, reader: Reader) -> Badge | None:
    """What the reader is on their site: one of its moderators, or its articles' author."""
    email = reader.email.lower()
    if email in (address.lower() for address in config.moderator_emails) or (
        store.accounts.get_moderator_by_email(conn, email) is not None
    ):
        return Badge.MODERATOR
    if email in config.authors_of(reader.site):
        return Badge.AUTHOR
    return None


def commenter(
    conn: Connection,
    config: Config,
    tokens: Tokens,
    thread: Thread,
    submission: Submission,
    now: datetime,
) -> Reader | None:
    """The verified reader posting, if signed in; else whether an anonymous reader may post
    here, under that name and email: a verified reader's name (or a lookalike of it) and
    address are theirs alone."""
    site = thread.site
    if submission.reader_token:
        reader = signed_in_reader(conn, tokens, site, submission.reader_token, now)
        if reader.name is None and submission.author:
            # A reader who signed in without a name takes the first one they write under.
            claim_name(conn, reader, submission.author, "author")
            reader = store.readers.get_reader(conn, reader.id) or reader
        return reader
    if thread.verified_only or config.commenters_of(site) is Commenters.VERIFIED_ONLY:
        where = "thread" if thread.verified_only else "site"
        raise Problem("sign_in_required", f"Sign in with your email to comment on this {where}.")
    if submission.author:
        holder = store.readers.reader_by_name_key(conn, site, name_key(submission.author))
        if holder is not None:
            raise Problem(
                "name_reserved",
                f"The name {submission.author!r} (or one that looks like it) belongs to a "
                "signed-in reader here. Sign in if it is yours, or choose another.",
                field="author",
            )
    if submission.email and store.readers.reader_by_email(conn, site, submission.email):
        raise Problem(
            "email_reserved",
            "This address belongs to a signed-in reader here: sign in to use it.",
            field="email",
        )
    return None


def claim_name(conn: Connection, reader: Reader, name: str, field: str) -> None:
    """Reserve the name for the reader, unless it (or a lookalike) is someone else's."""
    if not store.readers.claim_name(conn, reader.id, name, key_of(name, field)):
        raise name_taken(name, field)


def key_of(name: str, field: str) -> str:
    """The name's key (comments/names.py), or why a name cannot be one."""
    key = name_key(name)
    if not key:
        raise Problem("name_invalid", "A name needs at least one letter or digit.", field=field)
    return key


def name_taken(name: str, field: str) -> Problem:
    return Problem(
        "name_taken",
        f"Another reader here is known as {name!r} or a name that looks like it.",
        field=field,
    )

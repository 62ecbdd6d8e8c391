"""What readers can do, one function per intent and one transaction each. Knows nothing of HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from comments import identity, spam, store, validate
from comments.config import Config
from comments.db import Connection, Engine, PointReader, transaction
from comments.errors import Problem
from comments.models import (
    ACCEPTED_HOLDS,
    BanAction,
    Change,
    ChangeKind,
    Comment,
    Commenters,
    Cursor,
    Edited,
    FeedEntry,
    Moderation,
    Reader,
    Report,
    Sort,
    Status,
    Submission,
    Surge,
    Thread,
    ThreadPage,
    change_of_status,
)
from comments.pagecache import KnownVersions, tagged_counts
from comments.previews import PreviewLimiter
from comments.ratelimit import DatabaseRateLimiter, RateLimiter
from comments.sanitize import render_markdown
from comments.surge import SURGE_REFUSALS, Surges
from comments.tokens import EditClaim, Purpose, Tokens, text_hash
from comments.tree import build_tree, shows, target_of

STAMP_LIFETIME = timedelta(days=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """Told of events inside their transaction, to queue mail and webhooks; does nothing here."""

    def comment_posted(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        pass

    def comment_held(self, conn: Connection, comment: Comment, thread: Thread) -> None:
        pass

    def sign_in_link_asked(self, conn: Connection, email: str, link: str, until: datetime) -> None:
        pass

    def reader_link_asked(
        self, conn: Connection, email: str, site: str, link: str, until: datetime
    ) -> None:
        pass


class CommentService:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        tokens: Tokens,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
        read_engine: Engine | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.limiter = limiter or DatabaseRateLimiter()
        # Thread pages, counts and feeds may come from a replica; writes never do.
        self.read_engine = read_engine or engine
        self.point_reader = PointReader.for_engine(self.read_engine)
        # Not with a replica: its versions lag the announcements of the primary's commits.
        self.versions = KnownVersions(lifetime=0 if read_engine else 5.0)
        self.config = config
        self.tokens = tokens
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.previews = PreviewLimiter(config.preview_rate_limit)
        self.surges = Surges(config, tokens)

    # Reading

    def read_thread(
        self,
        site: str,
        uri: str,
        sort: Sort,
        limit: int,
        after: Cursor | None,
        *,
        before: Cursor | None = None,
        around: int | None = None,
    ) -> ThreadPage:
        """A page of the thread's tree: the first, the one after `after` or before `before`, or
        the one that opens with the top-level comment of `around` (with where it is)."""
        if sort is Sort.BEST:
            return self._read_best(site, uri, limit, after, before, around)
        with transaction(self.read_engine) as conn:
            thread = store.threads.get_thread(conn, site, uri)
            if thread is None:
                return ThreadPage(None, uri, [], None)
            found, has_more, before_it, placed = self._read_page(
                conn, thread.id, sort, limit, after, before, around
            )
        tree = build_tree(found, sort)
        backwards = before is not None  # (`around` excludes `before`)
        first = tree[0].comment if tree else None
        last = tree[-1].comment if tree else None
        # Reading backwards, "more" lies before; either way a page read from a cursor has the
        # page it came from on its other side.
        has_next = (has_more and not backwards) or (backwards and tree != [])
        has_prev = (has_more and backwards) or (after is not None) or before_it > 0
        return ThreadPage(
            thread,
            uri,
            tree,
            Cursor(last.created, last.id) if has_next and last else None,
            self.config.thread_closes(site, thread.created),
            prev=Cursor(first.created, first.id) if has_prev and first else None,
            target=target_of(tree, around, before_it + 1) if placed else None,
            missing=around if around and not shows(found, around) else None,
        )

    def _read_best(
        self,
        site: str,
        uri: str,
        limit: int,
        after: Cursor | None,
        before: Cursor | None,
        around: int | None,
    ) -> ThreadPage:
        """read_thread in the best order (store.best), whose cursors are places in it: `next`
        is the place after the page, `prev` its first one, and `before` reads the page that ends
        just before its place. The order moves only with the thread's version, as the page's
        ETag does. A permalink whose top-level comment is not listed (nothing under it shown)
        has no place in it, and answers the first page."""
        with transaction(self.read_engine) as conn:
            thread = store.threads.get_thread(conn, site, uri)
            if thread is None:
                return ThreadPage(None, uri, [], None)
            page = store.best.page_of_thread(
                conn,
                thread.id,
                limit,
                after=after.offset if after else None,
                before=before.offset if before else None,
                around=around,
            )
        tree = build_tree(page.comments, Sort.BEST, page.roots)
        following = page.start + len(page.roots)
        opening = min(page.start, page.total)
        return ThreadPage(
            thread,
            uri,
            tree,
            validate.offset_cursor(following) if following < page.total else None,
            self.config.thread_closes(site, thread.created),
            prev=validate.offset_cursor(opening) if opening > 0 else None,
            target=target_of(tree, around, page.start + 1) if page.placed else None,
            missing=around if around and not shows(page.comments, around) else None,
        )

    @staticmethod
    def _read_page(
        conn: Connection,
        thread_id: int,
        sort: Sort,
        limit: int,
        after: Cursor | None,
        before: Cursor | None,
        around: int | None,
    ) -> tuple[list[Comment], bool, int, bool]:
        """(comments, more follow, top-level comments before the page, whether `around` was
        placed in this thread). A permalink is one statement when its page shows anything; only
        when it does not are its root and its page looked up apart, to tell why."""
        if around:
            page = store.threads.permalink_page(conn, thread_id, around, sort, limit)
            if page is not None:
                return *page, True
            placed = store.threads.root_and_place(conn, thread_id, around, sort)
            if placed is not None:
                root, before_it = placed
                found, has_more = store.threads.page_of_thread(
                    conn, thread_id, sort, limit, Cursor(root.created, root.id), inclusive=True
                )
                return found, has_more, before_it, True
        found, has_more = store.threads.page_of_thread(
            conn, thread_id, sort, limit, before or after, backwards=before is not None
        )
        return found, has_more, 0, False

    async def version_of(self, site: str, uri: str) -> int:
        """The thread's version (0 before its first comment): its pages' cache key and ETag.

        Awaited in the event loop: the one database read of a cached page or a 304.
        """
        known = self.versions.get(site, uri)
        if known is not None:  # PostgreSQL's announcements, heard by streams.Hub
            return known
        heard = self.versions.heard
        version = await self.point_reader.scalar(
            store.threads.THREAD_VERSION, {"site": site, "uri": uri}
        )
        self.versions.read(site, uri, version or 0, heard)
        return version or 0

    async def aclose(self) -> None:
        await self.point_reader.aclose()

    def get_comment(self, comment_id: int, token: str | None) -> Comment:
        """An approved comment, or the author's own pending one (shown with its edit token)."""
        with transaction(self.engine) as conn:
            comment = store.threads.get_comment(conn, comment_id)
        if comment is None or comment.status in (Status.HIDDEN, Status.DELETED):
            raise Problem("comment_not_found", f"There is no comment {comment_id}.")
        if comment.status is Status.PENDING:
            claim = self.tokens.read_edit(token) if token else None
            if claim is None or claim.comment_id != comment_id:
                raise Problem("comment_not_found", f"There is no comment {comment_id}.")
        return comment

    def counts(self, site: str, uris: list[str]) -> dict[str, int]:
        """Visible comments per URI, keyed as asked; a URI that cannot be a thread counts 0."""
        return self.counts_and_tag(site, uris)[0]

    def counts_and_tag(self, site: str, uris: list[str]) -> tuple[dict[str, int], str]:
        """The counts, and a tag that changes whenever they may (see tagged_counts)."""
        keys = self._count_keys(site, uris)
        with transaction(self.read_engine) as conn:
            found = store.threads.counts_and_versions(conn, site, set(keys.values()))
        return tagged_counts(site, uris, keys, found)

    async def read_counts(self, site: str, uris: list[str]) -> tuple[dict[str, int], str]:
        """counts_and_tag in one statement awaited in the event loop, as a page's version is:
        through a worker thread, the pool and a transaction it cost several times as much."""
        keys = self._count_keys(site, uris)
        rows = await self.point_reader.rows(
            store.threads.COUNTS_AND_VERSIONS, {"site": site, "uris": sorted(set(keys.values()))}
        )
        found = {uri: (count, version) for uri, count, version in rows}
        return tagged_counts(site, uris, keys, found)

    def _count_keys(self, site: str, uris: list[str]) -> dict[str, str]:
        """Each asked URI that can be a thread, and its thread's key."""
        keys: dict[str, str] = {}
        parameters = self.config.query_parameters_of(site)
        for raw in uris:
            try:
                keys[raw] = validate.uri(raw, query_parameters=parameters)
            except Problem:
                continue
        return keys

    def is_healthy(self) -> bool:
        try:
            with transaction(self.engine) as conn:
                store.ping(conn)
        except Exception:
            return False
        return True

    # Writing

    def count_preview(self, ip: str) -> None:
        """One more preview from this address, or 429 `rate_limited` past the limit.

        Called in the event loop, before the rendering is queued: refused previews cost nothing.
        """
        self.previews.check(self.tokens.hash_ip(ip), self.clock())

    def stamp(self) -> str:
        """A signed "the form was opened now": posts much faster than that get a review."""
        return self.tokens.sign(
            Purpose.FORM_STAMP, {"t": self.clock().timestamp()}, self.clock() + STAMP_LIFETIME
        )

    def submit(self, site: str, submission: Submission, ip: str) -> Edited:
        now = self.clock()
        ip_hash = self.tokens.hash_ip(ip)
        surged: list[int] = []  # the thread, when the surge has a say in it
        try:
            return self._submit(site, submission, ip, ip_hash, now, surged)
        except Problem as problem:
            if problem.code in SURGE_REFUSALS and surged:
                with transaction(self.engine, write=True) as conn:
                    self.surges.note_refused(conn, surged[0], now)
            raise

    def _submit(
        self,
        site: str,
        submission: Submission,
        ip: str,
        ip_hash: str,
        now: datetime,
        surged: list[int],
    ) -> Edited:
        html = render_markdown(submission.text)  # outside the transaction: CPU, not I/O
        with transaction(self.engine, write=True) as conn:
            thread = store.threads.ensure_thread(
                conn, site, submission.uri, submission.title or "", now
            )
            if thread.closed:
                raise Problem("thread_closed", "This thread takes no new comments.")
            closes = self.config.thread_closes(site, thread.created)
            if closes is not None and now >= closes:
                # The site's schedule closes threads by age: old threads draw mostly spam.
                raise Problem("thread_closed", "This thread is too old to take new comments.")
            reader = identity.commenter(conn, self.config, self.tokens, thread, submission, now)
            if reader is not None:  # a verified reader writes as who they are
                submission = dataclasses.replace(submission, author=reader.name, email=reader.email)
            mode = self.surges.enter(conn, thread, now)
            if mode is not Surge.NORMAL:
                surged.append(thread.id)
            parent = None
            if submission.parent is not None:
                parent = store.threads.get_comment(conn, submission.parent)
                if (
                    parent is None
                    or parent.thread_id != thread.id
                    or parent.status is not Status.APPROVED
                ):
                    raise Problem(
                        "parent_not_found",
                        f"There is no comment {submission.parent} to reply to in this thread.",
                        field="parent",
                    )
            self.surges.check_slow_mode(conn, thread, ip_hash, mode, now)
            proved = self.surges.check_challenge(conn, thread, submission, ip_hash, mode, now)
            held = self._hold_reason(conn, thread, submission, ip_hash, now, mode, proved, reader)
            if held is None or held in ACCEPTED_HOLDS:
                # Only what is accepted spends the budgets: comments the defenses doubted are
                # held, and count for nothing, so a flood of them shuts nobody out. The thread's
                # row lock (ensure_thread) is taken first, then the address's, always in that
                # order: both counts are exact across workers.
                self.limiter.check_address(conn, ip_hash, self.config.rate_limit, now)
                self.limiter.check_thread(conn, thread.id, self.config.thread_rate_limit, now)
            comment = store.threads.insert_comment(
                conn,
                thread_id=thread.id,
                parent=parent,
                author=submission.author,
                email=submission.email,
                website=submission.website,
                text=submission.text,
                html=html,
                status=Status.PENDING if held else Status.APPROVED,
                held_reason=held,
                notify=submission.notify and bool(submission.email),
                created=now,
                ip_hash=ip_hash,
                avatar=self.tokens.avatar(submission.email, submission.author, ip),
                reader_id=reader.id if reader else None,
                badge=identity.badge_of(conn, self.config, reader) if reader else None,
            )
            if reader is not None and comment.notify:
                # The address is proved theirs: replies need no confirmation link.
                store.subscriptions.confirm_email(conn, reader.email, now)
            thread = store.threads.count_new_comment(
                conn, thread.id, comment.id, comment.status is Status.APPROVED
            )
            self.notifier.comment_posted(conn, comment, thread)
        return self._edited(comment)

    def thread_rules(self, site: str, uri: str) -> tuple[Surge, Commenters]:
        """The mode a thread takes comments in now, and who may comment there (/api/config)."""
        who = self.config.commenters_of(site)
        with transaction(self.engine) as conn:
            thread = store.threads.get_thread(conn, site, uri)
            if thread is None:
                return Surge.NORMAL, who
            if thread.verified_only:
                who = Commenters.VERIFIED_ONLY
            return self.surges.mode_of(conn, thread.id, self.clock()), who

    def report(self, comment_id: int, ip: str, report: Report) -> None:
        """A reader flags a comment; enough flags hide it until a moderator looks."""
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            comment = store.threads.get_comment(conn, comment_id)
            if comment is None or comment.status is not Status.APPROVED:
                raise Problem("comment_not_found", f"There is no comment {comment_id}.")
            reporter = self.tokens.hash_ip(ip)
            if not store.queue.add_report(conn, comment_id, reporter, report, now):
                raise Problem("already_reported", "You reported this comment already.")
            threshold = self.config.report_threshold
            if threshold and store.queue.open_report_count(conn, comment_id) >= threshold:
                store.threads.lock_thread(conn, comment.thread_id)
                held = store.threads.update_comment(
                    conn, comment_id, status=Status.PENDING, held_reason="reported"
                )
                removed = Change(ChangeKind.REMOVE, (comment_id,))
                store.threads.refresh_thread(conn, comment.thread_id, removed)
                self.notifier.comment_held(
                    conn, held, store.threads.get_thread_by_id(conn, comment.thread_id)
                )

    def edit(self, comment_id: int, token: str | None, text: str) -> Edited:
        html = render_markdown(text)
        with transaction(self.engine, write=True) as conn:
            comment = self._authorize(conn, comment_id, token)
            comment = store.threads.update_comment(
                conn, comment_id, text=text, html=html, edited=self.clock()
            )
            shown = comment.status is Status.APPROVED
            edited = change_of_status(comment_id, shown, shown)
            store.threads.refresh_thread(conn, comment.thread_id, edited)
        return self._edited(comment)

    def delete(self, comment_id: int, token: str | None) -> Comment:
        """The author takes their comment back: text and identity are erased, not kept."""
        with transaction(self.engine, write=True) as conn:
            self._authorize(conn, comment_id, token)
            comment = store.threads.update_comment(
                conn,
                comment_id,
                status=Status.DELETED,
                author=None,
                email=None,
                website=None,
                text="",
                html="",
                edited=self.clock(),
            )
            removed = Change(ChangeKind.REMOVE, (comment_id,))
            store.threads.refresh_thread(conn, comment.thread_id, removed)
        return comment

    # Rules

    def editable_until(self, comment: Comment) -> datetime:
        return comment.created + timedelta(seconds=self.config.edit_window)

    def _edited(self, comment: Comment) -> Edited:
        until = self.editable_until(comment)
        claim = EditClaim(comment.id, text_hash(comment.text), until)
        return Edited(comment, self.tokens.sign_edit(claim), until)

    def _authorize(self, conn: Connection, comment_id: int, token: str | None) -> Comment:
        """The comment, if the token lets its bearer change it now; otherwise why not."""
        if not token:
            raise Problem("token_missing", "Send the comment's edit token as a Bearer token.")
        claim = self.tokens.read_edit(token)
        if claim is None:
            raise Problem("token_invalid", "The edit token is not valid.")
        if claim.comment_id != comment_id:
            raise Problem("token_foreign", "The edit token belongs to another comment.")
        comment = store.threads.get_comment(conn, comment_id)
        if comment is None:
            raise Problem("comment_not_found", f"There is no comment {comment_id}.")
        if comment.status in (Status.HIDDEN, Status.DELETED):
            raise Problem("comment_not_editable", f"The comment is {comment.status}.")
        now = self.clock()
        if now >= min(claim.expires, self.editable_until(comment)):
            raise Problem("edit_window_closed", "The time to edit this comment has passed.")
        if claim.text_hash != text_hash(comment.text):
            raise Problem("comment_changed", "The comment was changed since this token was issued.")
        return comment

    def _hold_reason(
        self,
        conn: Connection,
        thread: Thread,
        submission: Submission,
        ip_hash: str,
        now: datetime,
        mode: Surge,
        proved: bool,
        reader: Reader | None = None,
    ) -> str | None:
        """Why a new comment must wait for a moderator, or None to publish it at once.

        Refusals (bans, duplicates) raise; everything doubtful is held, never dropped.
        """
        config = self.config
        # A verified reader posts under their proved address, and a ban of them holds it: it
        # follows them to any network.
        ban = store.bans.active_ban(conn, submission.email, ip_hash, now)
        if ban is not None and ban.email and ban.email == (submission.email or "").lower():
            if config.ban_action is BanAction.REJECT:
                raise Problem("banned", "You cannot comment here.")
            return "banned"
        if config.duplicate_window and store.defenses.has_same_text_since(
            conn,
            submission.text,
            submission.email,
            ip_hash,
            now - timedelta(seconds=config.duplicate_window),
        ):
            raise Problem("duplicate_comment", "You posted this text already.", field="text")
        if ban is not None:
            # The network is banned but not this email: the troll under a new name, or a
            # neighbour on the same campus or mobile network. A moderator tells them apart.
            return "banned_network"
        if submission.honeypot:
            return "honeypot"
        if config.min_write_seconds:
            claim = self.tokens.read(Purpose.FORM_STAMP, submission.stamp or "", now)
            if claim is None:
                return "no_stamp"
            is_fast = now.timestamp() - float(claim.get("t", 0)) < config.min_write_seconds
            # A quick writer with the form's stamp is asked for the bot challenge rather than
            # held: a person's browser pays a second for it, a script pays on every post.
            if is_fast and not proved:
                if not config.challenge_difficulty:
                    return "too_fast"
                raise self.surges.ask(thread, submission, now, "That was written very fast")
        if config.max_links and spam.count_links(submission.text) > config.max_links:
            return "links"
        if config.blocked_words and spam.has_blocked_word(submission.text, config.blocked_words):
            return "words"
        moderation = config.moderation_at(thread.site, now).mode
        if moderation is Moderation.PRE:
            return "pre"
        # A thread under a heavy surge holds first comments: those who wrote here before (and
        # were approved) go on as usual.
        # Trust goes to the person: a verified reader by their own approved comments, never by
        # an address someone else may have typed before they signed in.
        if (moderation is Moderation.TRUSTED or mode is Surge.HOLD) and not (
            store.defenses.reader_has_approved(conn, reader.id)
            if reader is not None
            else store.defenses.has_approved_comment(conn, submission.email, ip_hash)
        ):
            return "trusted" if moderation is Moderation.TRUSTED else "newcomer"
        return None

    # Feeds (comments/feeds.py)

    def recent_comments(
        self, site: str, uri: str | None, limit: int
    ) -> tuple[Thread | None, list[FeedEntry]]:
        """The newest approved comments of a thread, or of the whole site when `uri` is None."""
        with transaction(self.read_engine) as conn:
            if uri is None:
                return None, store.feeds.approved_recent(conn, site, None, limit)
            thread = store.threads.get_thread(conn, site, uri)
            if thread is None:
                return None, []
            return thread, store.feeds.approved_recent(conn, site, thread.id, limit)

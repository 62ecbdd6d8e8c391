"""What moderators do: the queue, actions on comments, bans, threads, the audit log, erasure.

Every action is one transaction that also writes its audit line, so the log cannot miss one.
Nothing here is irreversible but `purge` and `erase`, which are asked for explicitly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from comments import store
from comments.config import Config
from comments.db import Connection, Engine, transaction
from comments.errors import Problem
from comments.models import (
    Action,
    AuditEntry,
    Ban,
    BanScope,
    Change,
    ChangeKind,
    Comment,
    HotThread,
    QueueFilter,
    QueuePage,
    QueueView,
    Report,
    Status,
    Surge,
    SurgeRow,
    change_of_status,
)
from comments.sanitize import render_markdown
from comments.service import utc_now

QUEUE_PAGE = 50
# Status changes: action -> (statuses it applies to, status it leads to).
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.APPROVE: (frozenset({Status.PENDING, Status.HIDDEN}), Status.APPROVED),
    Action.HIDE: (frozenset({Status.PENDING, Status.APPROVED}), Status.HIDDEN),
    Action.DELETE: (frozenset({Status.PENDING, Status.APPROVED, Status.HIDDEN}), Status.DELETED),
    Action.RESTORE: (frozenset({Status.HIDDEN, Status.DELETED}), Status.APPROVED),
}


class ModerationService:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        clock: Callable[[], datetime] = utc_now,
        on_action: Callable[[Connection, str, Action, list[Comment]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        # Called inside each action's transaction (webhooks are queued there, so they cannot
        # be lost nor sent for an action that rolled back).
        self.on_action = on_action or (lambda conn, moderator, action, changed: None)

    # Reading

    def queue(
        self,
        view: QueueView,
        filters: QueueFilter | None = None,
        before: int | None = None,
        limit: int = QUEUE_PAGE,
    ) -> QueuePage:
        with transaction(self.engine) as conn:
            items, has_more = store.queue.queue(conn, view, filters or QueueFilter(), before, limit)
        return QueuePage(items, items[-1].comment.id if has_more and items else None)

    def report_reasons(self, comment_ids: Iterable[int]) -> dict[int, list[Report]]:
        with transaction(self.engine) as conn:
            return store.queue.report_reasons(conn, comment_ids)

    def audit(
        self,
        before: int | None = None,
        limit: int = QUEUE_PAGE,
        comment_id: int | None = None,
        reader_id: int | None = None,
    ) -> tuple[list[AuditEntry], int | None]:
        """The log, newest first: all of it, or what concerned one comment or verified reader."""
        with transaction(self.engine) as conn:
            entries, has_more = store.audit.audit_entries(
                conn, before, limit, comment_id, reader_id
            )
        return entries, entries[-1].id if has_more and entries else None

    def queue_counts(self) -> dict[QueueView, int]:
        with transaction(self.engine) as conn:
            return store.queue.queue_counts(conn)

    def bans(self) -> list[Ban]:
        with transaction(self.engine) as conn:
            return store.bans.list_bans(conn, self.clock())

    # Acting on comments

    def change_status(self, moderator: str, action: Action, ids: Iterable[int]) -> list[Comment]:
        """Approve, hide, delete or restore the given comments; others are left as they are.

        Returns the comments that changed. A moderator's delete keeps the text (it can be
        restored); only `purge` erases it.
        """
        action = Action(action)
        allowed_from, target = TRANSITIONS[action]
        now = self.clock()
        changed: list[Comment] = []
        with transaction(self.engine, write=True) as conn:
            for comment in store.threads.get_comments(conn, ids):
                if self._dismiss_reports(conn, moderator, action, comment, now):
                    changed.append(comment)
                    continue
                if comment.status not in allowed_from:
                    continue
                if action is Action.RESTORE and not comment.text:
                    continue  # erased by its author or purged: nothing to bring back
                store.threads.lock_thread(conn, comment.thread_id)
                updated = store.threads.update_comment(
                    conn, comment.id, status=target, held_reason=None
                )
                if target is Status.APPROVED:
                    store.queue.resolve_reports(conn, comment.id, now)
                _record_status(conn, moderator, action, comment, target, now)
                moved = change_of_status(
                    comment.id, comment.status is Status.APPROVED, target is Status.APPROVED
                )
                store.threads.refresh_thread(conn, comment.thread_id, moved)
                changed.append(updated)
            self.on_action(conn, moderator, action, changed)
        return changed

    def _dismiss_reports(
        self, conn: Connection, moderator: str, action: Action, comment: Comment, now: datetime
    ) -> bool:
        """Approving a reported comment that is still shown keeps it and dismisses the reports
        (else it would stay in the reported view for good, below the hiding threshold)."""
        if action is not Action.APPROVE or comment.status is not Status.APPROVED:
            return False
        if not store.queue.open_report_count(conn, comment.id):
            return False
        store.queue.resolve_reports(conn, comment.id, now)
        _record_status(conn, moderator, action, comment, comment.status, now, "reports dismissed")
        return True

    def edit(self, moderator: str, comment_id: int, text: str) -> Comment:
        html = render_markdown(text)
        with transaction(self.engine, write=True) as conn:
            comment = self._get(conn, comment_id)
            store.threads.lock_thread(conn, comment.thread_id)
            updated = store.threads.update_comment(
                conn,
                comment_id,
                text=text,
                html=html,
                edited=self.clock(),
                edited_by_moderator=True,
            )
            store.audit.record(
                conn,
                at=self.clock(),
                moderator=moderator,
                action=Action.EDIT,
                comment_id=comment_id,
                thread_id=comment.thread_id,
                before=comment.text,
                after=text,
            )
            shown = comment.status is Status.APPROVED
            edited = change_of_status(comment_id, shown, shown)
            store.threads.refresh_thread(conn, comment.thread_id, edited)
            self.on_action(conn, moderator, Action.EDIT, [updated])
        return updated

    def purge(self, moderator: str, ids: Iterable[int]) -> int:
        """Erase comments for good; one with replies stays as an empty placeholder."""
        now = self.clock()
        purged = 0
        with transaction(self.engine, write=True) as conn:
            for comment in store.threads.get_comments(conn, ids):
                store.threads.lock_thread(conn, comment.thread_id)
                if store.threads.has_replies(conn, comment.id):
                    store.threads.update_comment(conn, comment.id, **_erased(Status.DELETED))
                else:
                    store.threads.delete_comment_row(conn, comment.id)
                store.audit.record(
                    conn,
                    at=now,
                    moderator=moderator,
                    action=Action.PURGE,
                    comment_id=comment.id,
                    thread_id=comment.thread_id,
                    before=comment.status.value,
                    note="text and author erased",
                )
                removed = Change(ChangeKind.REMOVE, (comment.id,))
                store.threads.refresh_thread(conn, comment.thread_id, removed)
                purged += 1
        return purged

    # Authors and threads

    def ban(
        self,
        moderator: str,
        comment_id: int,
        reason: str,
        expires: datetime | None = None,
        hide_comments: bool = True,
        scope: BanScope | None = None,
    ) -> Ban:
        """Ban the author of a comment by email, by network (address hash) or both, until
        `expires` (None: for good); hide the comment too.

        Without a scope: both, or the network alone when the comment has no email.
        """
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            comment = self._get(conn, comment_id)
            scope = scope or (BanScope.BOTH if comment.email else BanScope.NETWORK)
            if scope is not BanScope.NETWORK and not comment.email:
                raise Problem(
                    "field_invalid",
                    "This comment has no email address to ban: ban its network.",
                    field="scope",
                )
            ban = store.bans.add_ban(
                conn,
                email=comment.email if scope is not BanScope.NETWORK else None,
                ip_hash=comment.ip_hash if scope is not BanScope.EMAIL else None,
                reason=reason,
                expires=expires,
                moderator=moderator,
                now=now,
                reader_id=comment.reader_id if scope is not BanScope.NETWORK else None,
            )
            until = f"until {expires:%Y-%m-%d %H:%M} UTC" if expires else "permanent"
            store.audit.record(
                conn,
                at=now,
                moderator=moderator,
                action=Action.BAN,
                comment_id=comment_id,
                thread_id=comment.thread_id,
                after=scope.value,
                note=f"ban {ban.id} by {scope.value}, {until}: {reason}",
            )
            self.on_action(conn, moderator, Action.BAN, [comment])  # the webhook tells of bans
        if hide_comments and comment.status in TRANSITIONS[Action.HIDE][0]:
            self.change_status(moderator, Action.HIDE, [comment_id])
        return ban

    def lift_ban(self, moderator: str, ban_id: int) -> Ban:
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            ban = store.bans.lift_ban(conn, ban_id, now)
            if ban is None:
                raise Problem("ban_not_found", f"There is no ban {ban_id} in force.")
            store.audit.record(
                conn, at=now, moderator=moderator, action=Action.LIFT_BAN, note=f"ban {ban_id}"
            )
        return ban

    def set_closed(self, moderator: str, thread_id: int, closed: bool) -> None:
        action = Action.CLOSE if closed else Action.REOPEN
        self._switch_thread(moderator, thread_id, action, closed=closed)

    def set_verified_only(self, moderator: str, thread_id: int, verified_only: bool) -> None:
        """Whether the thread takes comments from signed-in readers only (a heated one)."""
        action = Action.VERIFIED_ONLY if verified_only else Action.ANYONE
        self._switch_thread(moderator, thread_id, action, verified_only=verified_only)

    def _switch_thread(self, moderator: str, thread_id: int, action: Action, **value: bool) -> None:
        with transaction(self.engine, write=True) as conn:
            store.threads.lock_thread(conn, thread_id)
            store.threads.set_thread_switch(conn, thread_id, **value)
            store.threads.refresh_thread(conn, thread_id)
            store.audit.record(
                conn, at=self.clock(), moderator=moderator, action=action, thread_id=thread_id
            )

    def set_title(self, moderator: str, thread_id: int, title: str) -> None:
        """The thread's title in feeds, mails and the admin, from now on the site's own."""
        with transaction(self.engine, write=True) as conn:
            before = store.threads.find_thread(conn, thread_id)
            if before is None:
                raise Problem("not_found", f"There is no thread {thread_id}.")
            store.threads.lock_thread(conn, thread_id)
            store.threads.set_thread_title(conn, thread_id, title)
            store.threads.refresh_thread(conn, thread_id)  # a new version: pages show it at once
            store.audit.record(
                conn,
                at=self.clock(),
                moderator=moderator,
                action=Action.RETITLE,
                thread_id=thread_id,
                before=before.title,
                after=title,
            )

    # Surges (comments/surge.py)

    def hot_threads(self) -> list[HotThread]:
        with transaction(self.engine) as conn:
            return store.surges.hot_threads(conn, self.clock())

    def pin_mode(self, moderator: str, thread_id: int, mode: Surge | None) -> None:
        """Pin a thread to a mode (None: give it back to the server's own judgment), audited."""
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            store.threads.lock_thread(conn, thread_id)
            row = store.surges.get_surge(conn, thread_id)
            before = row.pinned if row is not None else None
            if row is None:
                if mode is None:
                    return
                # Never hot by itself yet: a row that stands for the pin alone.
                row = SurgeRow(thread_id, Surge.NORMAL, now, now, now, 0, None)
            store.surges.put_surge(conn, dataclasses.replace(row, pinned=mode))
            store.audit.record(
                conn,
                at=now,
                moderator=moderator,
                action=Action.PIN_MODE if mode is not None else Action.LIFT_MODE,
                thread_id=thread_id,
                before=before.value if before else "automatic",
                after=mode.value if mode else "automatic",
            )

    # Privacy

    def export_email(self, email: str) -> dict[str, Any]:
        """Everything stored about an address, for its owner."""
        with transaction(self.engine) as conn:
            found = store.privacy.comments_by_email(conn, email)
            bans = store.bans.bans_by_email(conn, email)
            subscribed = store.subscriptions.email_confirmation(conn, email)
            readers = store.readers.readers_by_email(conn, email)
        return {
            "email": email,
            "comments": [
                {
                    "id": comment.id,
                    "thread": uri,
                    "author": comment.author,
                    "website": comment.website,
                    "text": comment.text,
                    "status": comment.status.value,
                    "created": comment.created.isoformat(),
                    "edited": comment.edited.isoformat() if comment.edited else None,
                    "notify": comment.notify,
                }
                for comment, uri in found
            ],
            "bans": [{"reason": ban.reason, "created": ban.created.isoformat()} for ban in bans],
            "signed_in_as": [
                {"site": reader.site, "name": reader.name, "since": reader.created.isoformat()}
                for reader in readers
            ],
            "reply_notifications_confirmed": subscribed,
        }

    def erase_email(self, moderator: str, email: str) -> int:
        """Erase every comment and trace of an address; returns how many comments."""
        now = self.clock()
        with transaction(self.engine, write=True) as conn:
            found = store.privacy.comments_by_email(conn, email)
            for comment, _uri in found:
                store.threads.lock_thread(conn, comment.thread_id)
                if store.threads.has_replies(conn, comment.id):
                    store.threads.update_comment(conn, comment.id, **_erased(Status.DELETED))
                else:
                    store.threads.delete_comment_row(conn, comment.id)
                removed = Change(ChangeKind.REMOVE, (comment.id,))
                store.threads.refresh_thread(conn, comment.thread_id, removed)
            for reader in store.readers.readers_by_email(conn, email):
                # Their votes go too, and the counts they were in; their names are free again.
                for thread_id, ids in sorted(store.readers.erase_votes(conn, reader.id).items()):
                    store.threads.refresh_thread(
                        conn, thread_id, Change(ChangeKind.EDIT, tuple(ids))
                    )
                store.readers.delete_reader(conn, reader.id)
            store.privacy.forget_email(conn, email)
            store.audit.record(
                conn,
                at=now,
                moderator=moderator,
                action=Action.ERASE,
                note=f"erased {len(found)} comments of an address",
            )
        return len(found)

    def _get(self, conn: Connection, comment_id: int) -> Comment:
        comment = store.threads.get_comment(conn, comment_id)
        if comment is None:
            raise Problem("comment_not_found", f"There is no comment {comment_id}.")
        return comment


def _erased(status: Status) -> dict[str, Any]:
    return {
        "status": status,
        "author": None,
        "email": None,
        "website": None,
        "text": "",
        "html": "",
        "notify": False,
    }


def _record_status(
    conn: Connection,
    moderator: str,
    action: Action,
    comment: Comment,
    after: Status,
    now: datetime,
    note: str | None = None,
) -> None:
    """The audit line of a status change (or of one that left the status as it was)."""
    store.audit.record(
        conn,
        at=now,
        moderator=moderator,
        action=action,
        comment_id=comment.id,
        thread_id=comment.thread_id,
        before=comment.status.value,
        after=after.value,
        note=note,
    )

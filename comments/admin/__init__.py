"""The moderators' pages under /admin: sign-in, the queue, a comment, bans, audit log, privacy.

Server-rendered HTML (Jinja2, autoescaped) that works without JavaScript; static/admin.js adds
keyboard shortcuts. A session is a signed cookie; every form that changes something is a POST
carrying a token bound to that session. Handlers stay thin: parse the form, call one method of
Accounts or ModerationService, then render a page or redirect back with a notice.

Here the admin app is assembled and its routes are declared; each page family has its own module
(signin, queue, comment, bans, audit, privacy, backup), sharing the helpers in web (Admin, render,
redirects), guards (sessions, CSRF) and forms (parsing); errors turns failures into pages.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from comments import db
from comments.accounts import Accounts
from comments.admin import audit, backup, bans, comment, privacy, queue, signin, threads
from comments.admin.errors import (
    on_client_gone,
    on_crash,
    on_database_error,
    on_http_error,
    on_problem,
)
from comments.admin.web import Admin, SecurityHeaders, template_environment
from comments.config import Config
from comments.errors import Problem
from comments.moderation import ModerationService
from comments.streams import Hub
from comments.tokens import Tokens

routes = [
    Route("/", queue.index, methods=["GET"]),
    Route("/sign-in", signin.sign_in_page, methods=["GET"]),
    Route("/sign-in", signin.sign_in, methods=["POST"]),
    Route("/sign-in/mail", signin.mail_link, methods=["POST"]),
    Route("/sign-in/link", signin.link_page, methods=["GET"]),
    Route("/sign-in/link", signin.sign_in_with_link, methods=["POST"]),
    Route("/welcome", signin.welcome_page, methods=["GET"]),
    Route("/welcome", signin.welcome, methods=["POST"]),
    Route("/sign-out", signin.sign_out, methods=["POST"]),
    Route("/sign-out-everywhere", signin.sign_out_everywhere, methods=["POST"]),
    Route("/queue", queue.queue_page, methods=["GET"]),
    Route("/stream", queue.stream, methods=["GET"]),
    Route("/actions", queue.act, methods=["POST"]),
    Route("/purge", queue.purge, methods=["POST"]),
    Route("/comments/{comment_id:int}", comment.comment_page, methods=["GET"]),
    Route("/comments/{comment_id:int}/edit", comment.edit, methods=["POST"]),
    Route("/comments/{comment_id:int}/ban", comment.ban, methods=["POST"]),
    Route("/threads/{thread_id:int}/closed", comment.set_closed, methods=["POST"]),
    Route("/threads/{thread_id:int}/verified-only", comment.set_verified_only, methods=["POST"]),
    Route("/threads/{thread_id:int}/title", comment.set_title, methods=["POST"]),
    Route("/threads", threads.threads_page, methods=["GET"]),
    Route("/threads/{thread_id:int}/mode", threads.pin_mode, methods=["POST"]),
    Route("/bans", bans.bans_page, methods=["GET"]),
    Route("/bans/{ban_id:int}/lift", bans.lift_ban, methods=["POST"]),
    Route("/audit", audit.audit_page, methods=["GET"]),
    Route("/privacy", privacy.privacy_page, methods=["GET"]),
    Route("/privacy/export", privacy.privacy_export, methods=["POST"]),
    Route("/privacy/erase", privacy.privacy_erase, methods=["POST"]),
    Route("/backup", backup.backup_page, methods=["GET"]),
    Route("/export", backup.export, methods=["GET"]),
]


def create_admin(
    config: Config,
    tokens: Tokens,
    accounts: Accounts,
    moderation: ModerationService,
    hub: Hub | None = None,
) -> Starlette:
    """The admin as its own app, mounted at /admin: its errors are pages, not problem+json."""
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            Problem: on_problem,
            HTTPException: on_http_error,
            ClientDisconnect: on_client_gone,
            **dict.fromkeys(db.FAULT_TYPES, on_database_error),
            Exception: on_crash,
        },
    )
    app.state.config = config  # api.client_ip reads it
    app.state.admin = Admin(config, tokens, accounts, moderation, template_environment(), hub)
    return app

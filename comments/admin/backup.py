"""The admin's backup page and the export it streams (the whole database as JSON lines)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from comments import backup
from comments.admin.guards import page
from comments.admin.web import admin_of, render
from comments.models import Moderator


@page
async def backup_page(request: Request, moderator: Moderator) -> Response:
    return render(request, "backup.html", moderator=moderator, section="backup")


@page
async def export(request: Request, moderator: Moderator) -> Response:
    """Everything, as `comments export` writes it without password hashes, streamed from one
    snapshot of the database (a GET: it changes nothing, and only the session can read it)."""
    admin = admin_of(request)
    day = admin.moderation.clock().strftime("%Y-%m-%d")
    return StreamingResponse(
        backup.export_lines(admin.moderation.engine),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="comments-{day}.jsonl"'},
    )

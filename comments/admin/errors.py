"""The admin's error pages: a Problem, a missing page or a crash, each with its status."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from comments import db
from comments.admin.guards import session_moderator
from comments.admin.web import render, safe_next, wants_json
from comments.errors import CLOSING, RETRY_AFTER, Problem, fault_problem

log = logging.getLogger("comments")


async def on_problem(request: Request, problem: Problem) -> Response:
    if wants_json(request):
        return JSONResponse(
            problem.to_dict(),
            status_code=problem.status,
            headers=problem.headers,
            media_type="application/problem+json",
        )
    referer = urlsplit(request.headers.get("referer", ""))
    back = safe_next(urlunsplit(("", "", referer.path, referer.query, "")))
    moderator = None
    if problem.code not in ("internal_error", *RETRY_AFTER):
        moderator = await session_moderator(request)  # to keep the navigation on the page
    return render(
        request,
        "error.html",
        status=problem.status,
        headers=problem.headers,
        moderator=moderator,
        problem=problem,
        back=back,
        signed_out=problem.code == "sign_in_required",
    )


async def on_http_error(request: Request, error: HTTPException) -> Response:
    code = "method_not_allowed" if error.status_code == 405 else "not_found"
    problem = Problem(code, f"There is no page {request.url.path} for {request.method}.")
    return await on_problem(request, problem)


async def on_database_error(request: Request, error: Exception) -> Response:
    code = db.logged_fault(error, f"{request.method} {request.url.path}")
    if code is None:
        raise error  # a bug: on to on_crash
    return await on_problem(request, fault_problem(code))


async def on_client_gone(request: Request, error: ClientDisconnect) -> Response:
    return Response(status_code=400)  # nobody left to read it, and no bug to log


async def on_crash(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    headers = {**CLOSING, "X-Content-Type-Options": "nosniff"}
    problem = Problem("internal_error", "Something broke on our side.", headers=headers)
    return await on_problem(request, problem)

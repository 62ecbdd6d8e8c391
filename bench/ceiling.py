"""The ceiling: a bare Starlette app answering one fixed body, as fast as this stack can go.

Served by uvicorn with the same workers as our server and no access log (as behind a proxy that
logs). The body is our 100-comment first page, byte for byte as our server sends it (gzip), read
from the file named by BENCH_CEILING_BODY.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    body = Path(os.environ["BENCH_CEILING_BODY"]).read_bytes()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    async def page(request: Request) -> Response:
        return Response(body, headers=headers)

    return Starlette(routes=[Route("/", page)])

"""The `comments` command: serve, migrate."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from comments import config as settings
from comments import db

log = logging.getLogger("comments")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="comments", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="TOML file with settings")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="upgrade the schema and run the server")
    serve.add_argument("--config", metavar="PATH", help="TOML file with settings")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")

    migrate = commands.add_parser("migrate", help="upgrade (or downgrade) the database schema")
    migrate.add_argument("--config", metavar="PATH", help="TOML file with settings")
    migrate.add_argument(
        "revision", nargs="?", default="head", help="target revision (default: head; base: empty)"
    )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    overrides = {key: getattr(args, key, None) for key in ("host", "port", "workers")}
    try:
        config = settings.load(os.environ, args.config, overrides)
    except settings.ConfigError as error:
        sys.exit(f"comments: {error}")

    if args.command == "migrate":
        db.migrate(db.create_engine(config.database_url), args.revision)
        print(f"schema at {args.revision} on {db.redacted(config.database_url)}")
    else:
        run_server(config, args.config, overrides)


def run_server(config: settings.Config, config_path: str | None, overrides: dict) -> None:
    import uvicorn

    engine = db.create_engine(config.database_url)
    db.migrate(engine)
    engine.dispose()
    if not config.origins:
        log.warning(
            "COMMENTS_ORIGINS is not set: accepting comments from localhost pages only. "
            "Set it to your site's origin, e.g. COMMENTS_ORIGINS=https://blog.example.org"
        )
    # Workers load the settings again from the environment: hand them what the command line said,
    # and the data directory's secret, which exists now.
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"COMMENTS_{key.upper()}"] = str(value)
    if config_path:
        os.environ["COMMENTS_CONFIG"] = os.path.abspath(config_path)
    os.environ["COMMENTS_DATA_DIR"] = str(config.data_dir.resolve())

    url = config.public_url
    print(
        f"comments is serving {db.redacted(config.database_url)}\n"
        f"  demo page:  {url}/demo\n"
        f"  paste into your pages:\n"
        f'    <div id="comments"></div>\n'
        f'    <script src="{url}/static/embed.js" async></script>',
        flush=True,
    )
    uvicorn.run(
        "comments.app:app_from_environment",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        proxy_headers=False,  # X-Forwarded-For is read only from COMMENTS_TRUSTED_PROXIES
        server_header=False,
        log_level="info",
    )

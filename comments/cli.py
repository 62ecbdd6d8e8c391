"""The `comments` command: serve, migrate, moderator add/list/remove, privacy export/erase."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys

from comments import config as settings
from comments import db
from comments.accounts import Accounts
from comments.moderation import ModerationService
from comments.tokens import Tokens

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

    moderator = commands.add_parser("moderator", help="add, list or remove moderators")
    moderator.add_argument("--config", metavar="PATH", help="TOML file with settings")
    moderator_commands = moderator.add_subparsers(dest="action", required=True)
    add = moderator_commands.add_parser("add", help="add one and print a one-time sign-in link")
    add.add_argument("email")
    moderator_commands.add_parser("list", help="list moderators")
    remove = moderator_commands.add_parser("remove", help="remove one")
    remove.add_argument("email")

    privacy = commands.add_parser("privacy", help="export or erase everything about an email")
    privacy.add_argument("--config", metavar="PATH", help="TOML file with settings")
    privacy_commands = privacy.add_subparsers(dest="action", required=True)
    export = privacy_commands.add_parser("export", help="print it as JSON")
    export.add_argument("email")
    erase = privacy_commands.add_parser("erase", help="erase it, after asking")
    erase.add_argument("email")
    erase.add_argument("--yes", action="store_true", help="do not ask")

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
    elif args.command == "moderator":
        manage_moderators(config, args)
    elif args.command == "privacy":
        manage_privacy(config, args)
    else:
        run_server(config, args.config, overrides)


def migrated_engine(config: settings.Config) -> db.Engine:
    """The database, upgraded first: these commands may run before the server ever did."""
    engine = db.create_engine(config.database_url)
    db.migrate(engine)
    return engine


def manage_moderators(config: settings.Config, args: argparse.Namespace) -> None:
    accounts = Accounts(migrated_engine(config), config, Tokens(config.secret_key))
    if args.action == "add":
        link = accounts.add(args.email)
        print(f"Send this one-time sign-in link to {args.email.strip().lower()}:\n{link}")
    elif args.action == "list":
        for moderator in accounts.list():
            seen = moderator.last_sign_in
            state = "no password yet" if moderator.password_hash is None else "active"
            last = f", last signed in {seen:%Y-%m-%d %H:%M} UTC" if seen else ""
            print(f"{moderator.email}  ({state}{last})")
    elif not accounts.remove(args.email):
        sys.exit(f"comments: there is no moderator {args.email}")
    else:
        print(f"removed {args.email}")


def manage_privacy(config: settings.Config, args: argparse.Namespace) -> None:
    moderation = ModerationService(migrated_engine(config), config)
    found = moderation.export_email(args.email)
    if args.action == "export":
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return
    count = len(found["comments"])
    if not args.yes:
        question = f"Erase {comments(count)} and every trace of {args.email}? Type yes: "
        try:
            answer = input(question)
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            sys.exit("comments: nothing erased")
    # The audit log names who erased: here, the account that ran the command.
    erased = moderation.erase_email(f"command line ({getpass.getuser()})", args.email)
    print(f"erased {comments(erased)} and every trace of {args.email}")


def comments(count: int) -> str:
    return f"{count} comment" if count == 1 else f"{count} comments"


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

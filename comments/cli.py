"""The `comments` command: serve, migrate, moderator add/list/remove, privacy export/erase,
import (Disqus, WordPress, Isso, a backup), export, and sites list/rename/merge/move."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys

from tqdm import tqdm

from comments import backup, db, foreign, importer, sites
from comments import config as settings
from comments.accounts import Accounts
from comments.errors import CommandError
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

    add_import_commands(commands)
    add_site_commands(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    overrides = {key: getattr(args, key, None) for key in ("host", "port", "workers")}
    try:
        config = settings.load(os.environ, args.config, overrides)
    except settings.ConfigError as error:
        sys.exit(f"comments: {error}")

    try:
        if args.command == "migrate":
            db.migrate(db.create_engine(config.database_url), args.revision)
            print(f"schema at {args.revision} on {db.redacted(config.database_url)}")
        elif args.command == "moderator":
            manage_moderators(config, args)
        elif args.command == "privacy":
            manage_privacy(config, args)
        elif args.command in ("import", "export"):
            import_or_export(config, args)
        elif args.command == "sites":
            manage_sites(config, args)
        else:
            run_server(config, args.config, overrides)
    except CommandError as error:
        sys.exit(f"comments: {error}")
    except db.DatabaseError as error:
        # Unreachable, refused, no rights: the driver's own first line says which.
        sys.exit(f"comments: {db.redacted(config.database_url)}: {db.reason(error)}")


def migrated_engine(config: settings.Config, memory_map: bool = True) -> db.Engine:
    """The database, upgraded first: these commands may run before the server ever did."""
    engine = db.create_engine(config.database_url, memory_map)
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


# Import and export


def add_import_commands(commands: argparse._SubParsersAction) -> None:
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML file with settings"
    )
    imports = commands.add_parser(
        "import",
        parents=[config_option],
        help="import comments from Disqus, WordPress or Isso, or restore a backup",
    )
    sources = imports.add_subparsers(dest="source", required=True)
    shared = argparse.ArgumentParser(add_help=False, parents=[config_option])
    shared.add_argument("file", help="the export (or database) to read")
    shared.add_argument(
        "--site", help="the site the threads belong to (default: the first of COMMENTS_ORIGINS)"
    )
    shared.add_argument(
        "--map-url",
        metavar="OLD=NEW",
        action="append",
        default=[],
        type=url_rule,
        help="move pages under OLD (https://old.example/blog/, old.example or /2012/) to the "
        "path NEW; repeatable, the most specific wins",
    )
    for status in ("spam", "deleted"):
        shared.add_argument(
            f"--{status}",
            choices=[keep.value for keep in importer.Keep],
            default=importer.Keep.SKIP.value,
            help=f"leave {status} comments out (skip, the default) or bring them in hidden",
        )
    shared.add_argument(
        "--private",
        choices=[keep.value for keep in importer.Keep],
        default=importer.Keep.HIDDEN.value,
        help="comments of password-protected, private or deleted posts and threads: bring "
        "them in hidden (the default) or leave them out",
    )
    shared.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid records of a file that has invalid ones, and list those left",
    )
    shared.add_argument(
        "--dry-run", action="store_true", help="say what would happen, write nothing"
    )
    for name, what in (
        ("disqus", "a Disqus XML export"),
        ("wordpress", "a WordPress export (WXR)"),
        ("isso", "an Isso database (comments.db)"),
    ):
        sources.add_parser(name, parents=[shared], help=f"import {what}")
    restore = sources.add_parser(
        "backup", parents=[config_option], help="restore `comments export` into an empty database"
    )
    restore.add_argument("file", help="the backup (JSON Lines)")

    export = commands.add_parser(
        "export", parents=[config_option], help="write everything to standard output (JSON Lines)"
    )
    export.add_argument(
        "--with-password-hashes",
        action="store_true",
        help="include moderators' password hashes (else they choose new passwords after a restore)",
    )


def url_rule(text: str) -> importer.UrlRule:
    try:
        return importer.parse_url_rule(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def meter(label: str, total: int, unit: str) -> foreign.Meter:
    """A progress bar on a terminal's stderr; nothing when stderr is a file or a pipe."""
    in_bytes = unit == "B"
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        unit_scale=in_bytes,
        unit_divisor=1024 if in_bytes else 1000,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )


def import_or_export(config: settings.Config, args: argparse.Namespace) -> None:
    # Each row goes by once: a memory map would only make the command's resident size grow
    # with the database (195 MB against 103 MB for 100,000 comments).
    engine = migrated_engine(config, memory_map=False)
    if args.command == "export":
        out = sys.stdout.buffer
        for line in backup.export_lines(engine, args.with_password_hashes):
            out.write(line)
        out.flush()
    elif args.source == "backup":
        restored = backup.restore(engine, args.file, meter)
        counts = ", ".join(f"{count} {table}" for table, count in restored.items())
        print(f"restored {counts or 'an empty backup'} into {db.redacted(config.database_url)}")
    else:
        asked = (args.site or config.default_site).strip().lower()
        site = config.known_site(asked) or asked
        if config.origins and site not in config.sites:
            print(
                f"comments: warning: {site} is not the site of any of COMMENTS_ORIGINS "
                f"({', '.join(config.sites)}): no page will show these comments",
                file=sys.stderr,
            )
        options = importer.ImportOptions(
            site=site,
            url_rules=tuple(args.map_url),
            spam=importer.Keep(args.spam),
            deleted=importer.Keep(args.deleted),
            private=importer.Keep(args.private),
            skip_invalid=args.skip_invalid,
            dry_run=args.dry_run,
        )
        source = foreign.SOURCES[args.source](args.file, meter)
        summary = importer.Importer(engine, Tokens(config.secret_key)).run(source, options)
        print(describe(summary))


def describe(summary: importer.Summary) -> str:
    """The summary an import prints."""
    verb = "Would import" if summary.dry_run else "Imported"
    lines = [
        f"{verb} from {summary.source} into {summary.site}:",
        f"  comments: {summary.comments} new, {summary.already} there already"
        f" ({summary.found} in the file)",
        f"  threads:  {summary.threads} with new comments ({summary.new_threads} new threads)",
    ]
    if summary.moved:
        lines.append(f"  moved:    {summary.moved} to another thread (the page's new address)")
    if summary.emptied:
        lines.append(f"  removed:  {summary.emptied} threads the moves left empty")
    if summary.skipped:
        reasons = ", ".join(
            f"{count} {reason}" for reason, count in sorted(summary.skipped.items())
        )
        lines.append(f"  skipped:  {sum(summary.skipped.values())} ({reasons})")
    if summary.top_level:
        lines.append(f"  replies whose parent is missing, now top-level: {summary.top_level}")
    if summary.websites_dropped or summary.emails_dropped:
        lines.append(
            f"  dropped as invalid: {summary.websites_dropped} websites,"
            f" {summary.emails_dropped} emails (the comments came without them)"
        )
    if summary.invalid:
        lines.append(f"  left out as invalid (--skip-invalid): {len(summary.invalid)}")
        lines.extend(f"    {record}" for record in summary.invalid)
    if summary.dry_run:
        lines.append("Nothing was written (--dry-run).")
    return "\n".join(lines)


# Sites


def add_site_commands(commands: argparse._SubParsersAction) -> None:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML file with settings"
    )
    dry_run = argparse.ArgumentParser(add_help=False, parents=[parent])
    dry_run.add_argument(
        "--dry-run", action="store_true", help="say what would change, write nothing"
    )
    group = commands.add_parser(
        "sites", parents=[parent], help="list sites, rename or merge them, move their threads"
    )
    actions = group.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[parent], help="each site with its threads and comments")
    rename = actions.add_parser("rename", parents=[dry_run], help="rename a site")
    rename.add_argument("old")
    rename.add_argument("new", help="a name with no threads yet (else use merge)")
    merge = actions.add_parser(
        "merge", parents=[dry_run], help="threads of one site join another's (same page: merged)"
    )
    merge.add_argument("source", metavar="FROM")
    merge.add_argument("target", metavar="INTO")
    move = actions.add_parser(
        "move", parents=[dry_run], help="threads under one path prefix move to another"
    )
    move.add_argument("site")
    move.add_argument("old_prefix", metavar="OLD_PREFIX", help="e.g. /2019/05/")
    move.add_argument("new_prefix", metavar="NEW_PREFIX", help="e.g. /blog/")


def manage_sites(config: settings.Config, args: argparse.Namespace) -> None:
    engine = migrated_engine(config)
    try:
        run_site_command(config, args, sites.SiteService(engine))
    finally:
        engine.dispose()  # the command may run inside another program (tests do): close it all


def run_site_command(
    config: settings.Config, args: argparse.Namespace, service: sites.SiteService
) -> None:
    if args.action == "list":
        summaries = service.list_sites()
        for summary in summaries:
            unreached = (
                "" if summary.site in config.sites else "  (no configured origin reaches it)"
            )
            print(
                f"{summary.site}  {summary.threads} threads, {comments(summary.comments)}"
                f" ({summary.visible} visible){unreached}"
            )
        if not summaries:
            print("no sites have threads yet")
        return
    who = f"command line ({getpass.getuser()})"
    if args.action == "rename":
        changes = service.rename(who, args.old, args.new, dry_run=args.dry_run)
        target = args.new
    elif args.action == "merge":
        changes = service.merge(who, args.source, args.target, dry_run=args.dry_run)
        target = args.target
    else:
        changes = service.move(
            who, args.site, args.old_prefix, args.new_prefix, dry_run=args.dry_run
        )
        target = args.site
    print(describe_site_changes(changes))
    target = target.strip().lower()
    if target not in config.sites:
        print(
            f"comments: warning: no configured origin reaches {target}: "
            f"its pages show nothing until one does (see COMMENTS_ORIGINS, COMMENTS_SITE_ALIASES)",
            file=sys.stderr,
        )


def describe_site_changes(changes) -> str:
    """What a sites command prints: one line per thread key that changed."""
    lines = []
    for move in changes.moves:
        for thread in move.threads:
            if thread is move.survivor:
                lines.append(
                    f"  thread {thread.id}: {thread.site}{thread.uri} -> {move.site}{move.uri}"
                )
            else:
                lines.append(
                    f"  thread {thread.id}: {thread.site}{thread.uri} merged into thread"
                    f" {move.survivor.id} at {move.site}{move.uri}"
                )
    verb = "Would move" if changes.dry_run else "Moved"
    lines.append(f"{verb} {len(lines)} threads ({changes.merged} merged into another).")
    if changes.dry_run:
        lines.append("Nothing was written (--dry-run).")
    return "\n".join(lines)


def warn_about_unreached_sites(config: settings.Config, engine: db.Engine) -> None:
    """Comments under a site no origin reaches any more show on no page: say so, and how to
    bring them back (most often: COMMENTS_ORIGINS set at last, the comments under localhost)."""
    for site in sites.SiteService(engine).unreached(config):
        log.warning(
            "%s under %s show on no page: no configured origin or alias reaches that site; "
            "to show them on %s, run: %s",
            comments(site.comments),
            site.site,
            site.target,
            site.command,
        )


def run_server(config: settings.Config, config_path: str | None, overrides: dict) -> None:
    from comments import serving  # uvicorn, only for this command

    engine = db.create_engine(config.database_url)
    db.migrate(engine)
    warn_about_unreached_sites(config, engine)
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
    # Said in full, so nobody starts an empty second database by starting it from another folder.
    print(
        f"comments is serving {db.redacted(config.database_url)}\n"
        f"  data directory:  {config.data_dir.resolve()}\n"
        f"  demo page:  {url}/demo\n"
        f"  paste into your pages:\n"
        f'    <div id="comments"></div>\n'
        f'    <script src="{url}/static/embed.js" async></script>',
        flush=True,
    )
    serving.serve(
        config,
        proxy_headers=False,  # X-Forwarded-For is read only from COMMENTS_TRUSTED_PROXIES
        server_header=False,
        log_level="info",
    )

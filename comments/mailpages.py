"""The few pages behind links in mail: plain HTML from string templates, every value escaped.

No scripts and no outside resources; each page that acts has one form whose button posts back
to the page's own address (the link's token is in it).
"""

from __future__ import annotations

from html import escape

from comments.errors import Problem
from comments.links import LinkAction, LinkOutcome, Subscriber
from comments.models import Action, Status

STYLE = """
body { font: 1rem/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; background: #fff; }
blockquote { white-space: pre-wrap; overflow-wrap: anywhere; border-left: 4px solid #bbb;
             margin: 1rem 0; padding: .25rem 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
button { font: inherit; padding: .5rem 1.25rem; cursor: pointer; }
.problem { border-left: 4px solid #b00020; padding-left: 1rem; }
"""

VERBS = {
    Action.APPROVE: ("Approve this comment", "Approve", "approved"),
    Action.HIDE: ("Hide this comment", "Hide", "hidden"),
    Action.BAN: ("Ban this comment's author", "Ban the author", "banned"),
}


def page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
{body}
</main>
</body>
</html>
"""


def _button(label: str) -> str:
    # No action attribute: the form posts to this very address, token included.
    return f'<form method="post"><button type="submit">{escape(label)}</button></form>'


def _comment(asked: LinkAction) -> str:
    comment, thread = asked.comment, asked.thread
    held = f" ({comment.held_reason})" if comment.held_reason else ""
    rows = [
        ("Thread", thread.title or thread.uri),
        ("Address", f"{thread.site}{thread.uri}"),
        ("Author", comment.author or "(no name)"),
        ("Email", comment.email or "(none)"),
        ("Website", comment.website or "(none)"),
        ("Status", comment.status.value + held),
    ]
    details = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in rows)
    return f"<dl>{details}</dl>\n<blockquote>{escape(comment.text)}</blockquote>"


def action_page(asked: LinkAction) -> str:
    title, label, done = VERBS[asked.action]
    if asked.is_moot:
        note = f"<p>The comment is already {escape(asked.comment.status.value)}.</p>"
        return page(title, f"{note}\n{_comment(asked)}")
    who = f"<p>You act as {escape(asked.moderator)}; the audit log will say so.</p>"
    if asked.action is Action.BAN:
        return page(title, f"{_comment(asked)}\n{who}\n{_ban_form(asked, label)}")
    what = f"<p>The comment will be {done}.</p>"
    return page(title, f"{_comment(asked)}\n{what}\n{who}\n{_button(label)}")


def _ban_form(asked: LinkAction, label: str) -> str:
    """What the ban covers, why and for how long; this comment is hidden too."""
    email = asked.comment.email
    choices = [
        ("email", f"the email {email or '(this comment has none)'}: refused everywhere", email),
        ("network", "the network (/24 or /64): everything from it waits for review", True),
        ("both", "both: the email refused, other addresses from the network held", email),
    ]
    default = "both" if email else "network"
    radios = "".join(
        f'<label><input type="radio" name="scope" value="{value}"'
        + (" checked" if value == default else "")
        + ("" if usable else " disabled")
        + f"> {escape(text)}</label><br>\n"
        for value, text, usable in choices
    )
    return f"""<form method="post">
<fieldset><legend>Ban by</legend>
{radios}</fieldset>
<p>A network may be a campus or a mobile operator: comments from it under another email are
held for review, never refused. This comment will be hidden. You can lift the ban in the admin
pages.</p>
<p><label>Reason <input name="reason" maxlength="500" placeholder="spam, abuse, …"></label></p>
<p><label>For how many days <input name="days" type="number" min="1" max="3650" value="7">
</label>
<label><input type="checkbox" name="permanent" value="yes"> permanent</label></p>
<button type="submit">{escape(label)}</button>
</form>"""


def action_done_page(outcome: LinkOutcome) -> str:
    asked = outcome.done
    _title, _label, done = VERBS[asked.action]
    if asked.action is Action.BAN and outcome.ban is not None:
        ban = outcome.ban
        until = f"until {ban.expires:%Y-%m-%d %H:%M} UTC" if ban.expires else "permanently"
        message = f"The author is banned by {ban.scope.value}, {until}" + (
            ", and the comment is hidden." if asked.comment.status is not Status.HIDDEN else "."
        )
    elif outcome.changed:
        message = f"The comment is {done}."
    else:
        message = f"Nothing changed: the comment was already {asked.comment.status.value}."
    return page("Done", f"<p>{escape(message)}</p>\n{_comment(asked)}")


def confirm_page(subscriber: Subscriber) -> str:
    if subscriber.is_subscribed:
        return page(
            "Address confirmed",
            f"<p>{escape(subscriber.email)} already gets replies to its comments by mail.</p>",
        )
    return page(
        "Confirm reply notifications",
        f"<p>Send replies to comments written with {escape(subscriber.email)} to this address?"
        "</p>\n" + _button("Yes, send me replies"),
    )


def confirmed_page(subscriber: Subscriber) -> str:
    return page(
        "Address confirmed",
        f"<p>Thank you. Replies to comments of {escape(subscriber.email)} that asked for them "
        "will be sent by mail; each message has a link to stop them.</p>",
    )


def unsubscribe_page(subscriber: Subscriber) -> str:
    if not subscriber.is_subscribed:
        return page(
            "Unsubscribed",
            f"<p>No replies are sent to {escape(subscriber.email)}.</p>",
        )
    return page(
        "Stop reply notifications",
        f"<p>Stop mailing replies to {escape(subscriber.email)}?</p>\n" + _button("Unsubscribe"),
    )


def unsubscribed_page(subscriber: Subscriber) -> str:
    return page(
        "Unsubscribed",
        f"<p>No more replies will be sent to {escape(subscriber.email)}. To get them again, "
        "tick the box when you next comment.</p>",
    )


def problem_page(problem: Problem) -> str:
    return page(problem.title, f'<p class="problem">{escape(problem.detail)}</p>')

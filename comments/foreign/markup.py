"""Other systems' markup into ours: the HTML readers see, and the Markdown a moderator edits.

Imported HTML is kept as HTML (sanitize.render_html, the same allowlist as every comment): what
the old system showed, minus what the policy removes. Our comments also keep a Markdown source
(`text`), which an edit re-renders; for an imported HTML comment it is made here from the
sanitized HTML, which holds only the allowlist's dozen tags, so a small converter is exact
enough and cheap (markdownify cost as much as the sanitizer itself). An unedited comment is
never shown from it.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

from comments.foreign.base import Markup
from comments.sanitize import render_html, render_markdown

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n")
_BLOCK_START = re.compile(r"<(p|div|blockquote|pre|ul|ol|h[1-6]|table)\b", re.IGNORECASE)


def render(markup: Markup, body: str) -> tuple[str, str]:
    """(text, html) of a comment's body: its Markdown source and the HTML readers see."""
    body = CONTROL.sub("", body.replace("\r\n", "\n"))
    if markup is Markup.MARKDOWN:  # Isso keeps what readers typed, in Markdown
        text = body.strip()
        return text, render_markdown(text) if text else ""
    if markup is Markup.WORDPRESS:
        body = wordpress_paragraphs(body)
    html = render_html(body)
    return markdown_of_html(html), html


def render_all(items: list[tuple[Markup, str]]) -> list[tuple[str, str]]:
    """render() over a chunk: what an import's worker processes are handed."""
    return [render(markup, body) for markup, body in items]


def wordpress_paragraphs(body: str) -> str:
    """WordPress keeps a comment as typed and adds <p> and <br> only when it shows it (its
    autop); do the same (outside <pre>), or its paragraphs would run together."""
    parts = []
    for piece in _PRE.split(body):
        if _PRE.fullmatch(piece):
            parts.append(piece)
            continue
        for chunk in _BLANK_LINES.split(piece):
            chunk = chunk.strip()
            if chunk and _BLOCK_START.match(chunk):
                parts.append(chunk)
            elif chunk:
                parts.append("<p>" + chunk.replace("\n", "<br>\n") + "</p>")
    return "\n".join(parts)


# Sanitized HTML -> Markdown (our renderer's dialect: a newline is a <br>, no headings)

_BLOCKS = frozenset({"p", "pre", "blockquote", "ul", "ol"})
_MARKS = {"em": "*", "strong": "**", "del": "~~"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>~|])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_ORDERED_START = re.compile(r"^([ \t]*\d{1,9})([.)])(?=[ \t]|$)", re.MULTILINE)
_MARKER_START = re.compile(r"^([ \t]*)([-+*>#=])(?=[ \t]|$)", re.MULTILINE)
_SPACES = re.compile(r"[ \t\r\n]+")


def markdown_of_html(html: str) -> str:
    """Markdown that renders (sanitize.render_markdown) as close to `html` as ours can."""
    if not html.strip():
        return ""
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return _blocks(root).strip()


def _blocks(element) -> str:
    """The children of a container as Markdown blocks, a blank line apart."""
    blocks: list[str] = []
    inline: list[str] = [_escape(element.text or "")]
    for child in element:
        if not isinstance(child.tag, str):
            pass
        elif child.tag in _BLOCKS:
            blocks.append(_paragraph("".join(inline)))
            inline = []
            blocks.append(_block(child))
        else:
            inline.append(_inline(child))
        inline.append(_escape(child.tail or ""))
    blocks.append(_paragraph("".join(inline)))
    return "\n\n".join(block for block in blocks if block)


def _paragraph(text: str) -> str:
    lines = [line.strip() for line in text.strip(" ").split("\n")]
    # A line that would start a list, a quote or a code block in Markdown is text here.
    text = _ORDERED_START.sub(r"\1\\\2", "\n".join(lines))  # "1." -> "1\."
    return _MARKER_START.sub(r"\1\\\2", text).strip("\n")


def _block(element) -> str:
    tag = element.tag
    if tag == "p":
        return _paragraph(_inline_children(element))
    if tag == "pre":
        code = element.text_content().rstrip("\n")
        fence = "`" * max(3, _longest_run(code, "`") + 1)
        return f"{fence}\n{code}\n{fence}"
    if tag == "blockquote":
        inner = _blocks(element)
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    items = []
    number = int(element.get("start") or 1) if (element.get("start") or "1").isdigit() else 1
    for position, item in enumerate(child for child in element if child.tag == "li"):
        marker = "-" if tag == "ul" else f"{number + position}."
        lines = (_blocks(item) or " ").split("\n")
        indent = " " * (len(marker) + 1)
        rest = "".join(f"\n{indent}{line}" if line else "\n" for line in lines[1:])
        items.append(f"{marker} {lines[0]}{rest}")
    return "\n".join(items)


def _inline_children(element) -> str:
    parts = [_escape(element.text or "")]
    for child in element:
        if isinstance(child.tag, str):
            parts.append(_inline(child))
        parts.append(_escape(child.tail or ""))
    return "".join(parts)


def _inline(element) -> str:
    tag = element.tag
    if tag == "br":
        return "\n"
    if tag == "code":
        code = _SPACES.sub(" ", element.text_content())
        ticks = "`" * (_longest_run(code, "`") + 1)
        pad = " " if code.startswith("`") or code.endswith("`") else ""
        return f"{ticks}{pad}{code}{pad}{ticks}"
    if tag in _BLOCKS or tag == "li":
        return _blocks(element)
    inner = _inline_children(element)
    if tag == "a":
        href = element.get("href") or ""
        if not href or "\n" in inner:
            return inner
        if element.text_content() == href and re.match(r"https?://", href):
            return href  # linkified again as it was
        destination = f"<{href}>" if re.search(r"[\s()<>]", href) else href
        return f"[{inner}]({destination})"
    mark = _MARKS.get(tag)
    if mark is None or not inner.strip():
        return inner
    # Markers hug the words: "** x **" is not emphasis.
    lead, body, trail = re.match(r"(\s*)(.*?)(\s*)$", inner, re.DOTALL).groups()
    return f"{lead}{mark}{body}{mark}{trail}"


def _escape(text: str) -> str:
    """Plain text as Markdown that shows it as it is: HTML's whitespace, our specials escaped."""
    return _ENTITY.sub("\\&", _SPECIAL.sub(r"\\\1", _SPACES.sub(" ", text)))


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(run) for run in runs), default=0)

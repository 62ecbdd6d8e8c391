"""The only producer of user-visible HTML: Markdown (or imported HTML) -> bleach allowlist."""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import bleach
from bleach.html5lib_shim import Filter
from bleach.linkifier import LinkifyFilter
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.linkify import SCHEME_RE
from markdown_it.token import Token

ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "del"}
)
# `rel` is not listed: _LinkRelFilter sets it after the allowlist has run, so no reader's
# rel survives and every link gets ours.
ALLOWED_ATTRIBUTES = {"a": ["href"], "ol": ["start"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# Markup whose HTML we would strip anyway. Switching the rule off keeps the reader's text
# ("# not a heading", "---") instead of losing it; with "image" off, ![alt](url) reads as
# "!" followed by an ordinary link. Tables and raw HTML are off in the commonmark preset.
_DISABLED_RULES = ["image", "heading", "lheading", "hr"]

# Deeper emphasis (em, strong, del inside each other) stays as literal markers.
_MAX_INLINE_DEPTH = 8
_EMPHASIS_OPEN = frozenset({"em_open", "strong_open", "s_open"})

# The work of rendering grows with the markup, not with the length: plain words cost about a
# microsecond a character, while each character that can open a tag or an entity costs 10 to
# 35 microseconds (markdown-it, then html5lib handles every tag and entity as a token of its own,
# in Python).
# At 100,000 characters the worst texts took 1.5 to 5 s of CPU ("&" * 100_000, "```\n" *
# 25_000). So the markup is bounded instead: a text's weight is its characters other than
# letters, digits, spaces and tabs, with line breaks, ":" (links) and "@" (email links) counted
# more, as they make more work. Prose weighs about 4% of its length, this README 15%, code 25%;
# the heaviest text of MAX_MARKUP renders in about 0.2 s (it was seconds).
MAX_MARKUP = 10_000
_MARKUP = re.compile(r"[^\w \t]|_")
_MARKUP_EXTRA = {"\n": 1, ":": 1, "@": 3}

# A scheme as a browser sees it, once markdown-it has percent-encoded the URL (so no
# whitespace or control characters are left inside it).
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)


class _CommentMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        # A link with another scheme stays literal text instead of becoming an <a> whose
        # href bleach would then drop. Relative URLs carry no scheme and are allowed.
        scheme = _SCHEME.match(url.strip())
        return scheme is None or scheme[1].lower() in ALLOWED_PROTOCOLS


class _LinkRelFilter(Filter):
    """Overwrite `rel` on every link that survived the allowlist."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "a":
                token["data"][(None, "rel")] = LINK_REL
            yield token


def _flatten_deep_emphasis(state: StateCore) -> None:
    """Turn emphasis nested deeper than _MAX_INLINE_DEPTH back into its literal markers."""
    # Emphasis is paired after parsing, so maxNesting does not bound it: "*a " * n + "b" +
    # " c*" * n nests n <em>s, and html5lib's parser is quadratic in depth (bleach took
    # ~7 s at n = 10_000, ~30 s at 20_000). Beyond the limit readers see the *s they typed.
    for block in state.tokens:
        flattened: list[bool] = []  # one per open token: was it turned into text?
        depth = 0
        for token in block.children or []:
            if token.nesting == 1:
                flatten = depth >= _MAX_INLINE_DEPTH and token.type in _EMPHASIS_OPEN
                flattened.append(flatten)
                depth += not flatten
            elif token.nesting == -1:
                flatten = flattened.pop() if flattened else False
                depth -= not flatten
            else:
                continue
            if flatten:
                token.type, token.tag, token.nesting = "text", "", 0
                token.content = token.markup  # "*", "_", "**", "__" or "~~"


# markdown-it's linkify rule looks for the scheme before each "://" with a regex anchored at
# the end of all the text since the last token: quadratic, 2.2 s for "http:// " * 4_000. A
# scheme that can make a link is a few letters; the last 64 characters decide the same.
_SCHEME_TAIL = 64


def _linkify(state: StateInline, silent: bool) -> bool:
    """markdown-it's rules_inline.linkify, but for the scheme search over the pending text's
    tail (a longer word before "://" is no scheme linkify knows, whole or cut)."""
    pos = state.pos
    if state.linkLevel > 0 or state.src[pos : pos + 3] != "://":
        return False
    found = SCHEME_RE.search(state.pending[-_SCHEME_TAIL:])
    if not found:
        return False
    proto = found.group(1)
    assert state.md.linkify is not None
    link = state.md.linkify.match_at_start(state.src[pos - len(proto) :])
    if not link:
        return False
    url = link.url.rstrip("*")  # a '*' at the end belongs to emphasis
    full_url = state.md.normalizeLink(url)
    if not state.md.validateLink(full_url):
        return False
    if not silent:
        state.pending = state.pending[: -len(proto)]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": full_url}
        token.markup, token.info = "linkify", "auto"
        token = state.push("text", "", 0)
        token.content = state.md.normalizeLinkText(url)
        token = state.push("link_close", "a", -1)
        token.markup, token.info = "linkify", "auto"
    state.pos += len(url) - len(proto)
    return True


def _render_del(self: Any, tokens: Sequence[Token], idx: int, *_: Any) -> str:
    # markdown-it writes ~~x~~ as <s>; <del> is the element for removed text.
    return "<del>" if tokens[idx].nesting == 1 else "</del>"


@functools.cache
def _markdown() -> MarkdownIt:
    md = _CommentMarkdown(
        "commonmark",
        # maxNesting bounds the depth of quotes, lists and links (9 nested lists; what is
        # nested deeper is dropped). Parse time grows with it: "[" * 100_000 takes ~2 s
        # at 20 and ~12 s at 100, the "default" preset's. Emphasis escapes this bound, so
        # _flatten_deep_emphasis keeps html5lib's input shallow.
        {"html": False, "linkify": True, "breaks": True, "maxNesting": 20},
    )
    md.enable(["strikethrough", "linkify"]).disable(_DISABLED_RULES)
    md.core.ruler.push("flatten_deep_emphasis", _flatten_deep_emphasis)
    md.inline.ruler.at("linkify", _linkify)
    md.add_render_rule("s_open", _render_del)
    md.add_render_rule("s_close", _render_del)
    # Only links with a scheme: "fuzzy" links would turn file names like setup.py or
    # README.md into links to made-up hosts (.py and .md are country domains). Bare email
    # addresses still become mailto: links; ftp: is not a protocol we allow.
    assert md.linkify is not None
    md.linkify.set({"fuzzy_link": False}).add("ftp:", None)
    # Thread safety: render() keeps its parse state in a fresh StateCore per call, but the
    # instance compiles caches on first use (each Ruler's rule chains, linkify-it's regexes)
    # and threads racing that first compile fail ("none of the block rules matched"; seen
    # in 24 of 1200 racing first renders). One render here builds every cache before the
    # instance is shared; from then on it is only read, so concurrent render() is safe.
    md.render("*a* ~~b~~ `c` [d](/e) http://a.example //a.example mailto:a@a.example a@a.example")
    return md


# bleach.Cleaner is NOT thread-safe: its html5lib parser and serializer keep per-parse state on
# the instance (its docstring: "Create a separate cleaner per thread!"); one Cleaner shared by 8
# threads gave 637 wrong or failed results out of 1000. One per call is safe but cost ~40 us of
# the ~430 us clean() takes on a typical comment (the parser, serializer and their first use),
# so each thread keeps one: a thread runs one clean() at a time, and each resets the parser.
_cleaners = threading.local()


def _cleaner() -> bleach.Cleaner:
    cleaner = getattr(_cleaners, "cleaner", None)
    if cleaner is None:
        cleaner = _cleaners.cleaner = bleach.Cleaner(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
            strip_comments=True,
            filters=[_LinkRelFilter],
        )
        cleaner.walker = _TreeWalker
    return cleaner


_EtreeWalker = bleach.html5lib_shim.getTreeWalker("etree")


class _TreeWalker(_EtreeWalker):  # type: ignore[misc, valid-type]
    """html5lib's walker of the parsed tree, less its one quadratic step: going back up from
    an element's child, it looked for the element among all its siblings (`list.index`), so
    2,500 list items with a link each cost 0.2 s in that step alone. Here each parent's
    children are numbered once."""

    def __init__(self, tree: Any) -> None:
        super().__init__(tree)
        self._positions: dict[int, dict[int, int]] = {}

    def getParentNode(self, node: Any) -> Any:
        if isinstance(node, tuple) and node[3] != "text" and len(node[2]) > 1:
            parents = node[2]
            parent = parents.pop()
            return parent, self._position(parents[-1], parent), parents, None
        return super().getParentNode(node)

    def _position(self, grandparent: Any, parent: Any) -> int:
        positions = self._positions.get(id(grandparent))
        if positions is None:
            positions = {id(child): index for index, child in enumerate(grandparent)}
            self._positions[id(grandparent)] = positions
        return positions[id(parent)]


def markup_weight(text: str) -> int:
    """How much rendering work a text asks for (see MAX_MARKUP): linear, a few ms at most."""
    weight = _MARKUP.subn("", text)[1]
    return weight + sum(text.count(char) * extra for char, extra in _MARKUP_EXTRA.items())


def render_markdown(text: str) -> str:
    """Markdown written by a reader -> safe HTML to store and show."""
    if markup_weight(text) > MAX_MARKUP:
        # Readers' texts are refused before this (validate.text); an imported or older one is
        # shown as the plain text it is rather than rendered for seconds.
        return _plain(text)
    # markdown-it already escapes every raw tag (html=False) and refuses javascript: and
    # friends; bleach is the second, independent wall that decides what reaches a page.
    return _cleaner().clean(_markdown().render(text)).strip()


def _plain(text: str) -> str:
    """Text as one escaped paragraph per blank-line block: safe by construction."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    return "\n".join(
        "<p>" + html.escape(block, quote=False).replace("\n", "<br>\n") + "</p>" for block in blocks
    )


# Imported HTML (Disqus, WordPress) is kept as HTML, never round-tripped through Markdown: that
# turned <br> into a literal "\\", "~~~" into strikethrough and squashed code blocks. It goes
# through the same allowlist, and gets the same links: bare http(s) URLs and email addresses
# become links (with a scheme only, as markdown-it's linkify is set up above), none in code.
_IMPORTED_URL = re.compile(
    r"""\(*\bhttps?://(?:[\w.-]+(?::[^\s@/]*)?@)?[\w-]+(?:\.[\w-]+)*(?::[0-9]+)?"""
    r"""(?:[/?#][^\s{}|\\^`<>"]*)?""",
    re.IGNORECASE,
)
_LINKABLE = re.compile(r"://|@")  # no link to make without one: skip the linkify pass
# What other systems write for what our allowlist calls otherwise; without this, bleach would
# strip <b> and keep only its text. Headings become bold paragraphs (we allow no headings), as
# the Markdown path's imports did.
_SYNONYMS = {"b": "strong", "i": "em", "s": "del", "strike": "del"}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _SynonymFilter(Filter):
    """Before the allowlist: <b> -> <strong>, <h3> -> <p><strong>, <img> -> a link to it."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            kind, name = token["type"], token.get("name")
            if kind in ("StartTag", "EndTag") and name in _SYNONYMS:
                token["name"] = _SYNONYMS[name]
            elif kind in ("StartTag", "EndTag") and name in _HEADINGS:
                pair = [
                    {"type": kind, "name": "p", "namespace": token.get("namespace"), "data": {}}
                ]
                pair.append({**pair[0], "name": "strong"})
                yield from pair if kind == "StartTag" else reversed(pair)
                continue
            elif kind in ("StartTag", "EmptyTag") and name == "img":
                yield from _image_link(token)
                continue
            yield token


def _image_link(token: dict[str, Any]) -> Iterator[dict[str, Any]]:
    source = (token["data"].get((None, "src")) or "").strip()
    label = (token["data"].get((None, "alt")) or "").strip() or source
    if not source:
        yield {"type": "Characters", "data": label}
        return
    namespace = token.get("namespace")
    yield {
        "type": "StartTag",
        "name": "a",
        "namespace": namespace,
        "data": {(None, "href"): source},
    }
    yield {"type": "Characters", "data": label}
    yield {"type": "EndTag", "name": "a", "namespace": namespace, "data": {}}


def _html_cleaner(linkify: bool) -> bleach.Cleaner:
    name = "linkifier" if linkify else "html"
    cleaner = getattr(_cleaners, name, None)
    if cleaner is None:
        links = functools.partial(
            LinkifyFilter,
            callbacks=[],  # rel comes from _LinkRelFilter, as on every link
            skip_tags=["pre", "code"],
            parse_email=True,
            url_re=_IMPORTED_URL,
        )
        cleaner = bleach.Cleaner(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
            strip_comments=True,
            filters=[links, _LinkRelFilter] if linkify else [_LinkRelFilter],
        )
        # bleach's parser drops tags outside the allowlist as it reads them: this one lets the
        # synonyms through to _SynonymFilter, which renames them before the allowlist runs.
        cleaner.parser = bleach.html5lib_shim.BleachHTMLParser(
            tags=ALLOWED_TAGS | _SYNONYMS.keys() | _HEADINGS | {"img"},
            strip=True,
            # Entities stay as written (&#8220;, &hellip;): a browser shows what the old system
            # showed. Consuming them would turn a literal "&amp;amp;" into "&amp;" (bleach's
            # serializer leaves an & that starts an entity alone).
            consume_entities=False,
            namespaceHTMLElements=False,
        )
        cleaner.walker = lambda tree: _SynonymFilter(_TreeWalker(tree))
        setattr(_cleaners, name, cleaner)
    return cleaner


def render_html(html: str) -> str:
    """HTML another system kept (an imported comment) -> safe HTML to store and show: what the
    old system showed, minus what our allowlist removes."""
    return _html_cleaner(bool(_LINKABLE.search(html))).clean(html).strip()

"""Thread keys: one key for every address the web treats as the same page, and no fewer."""

from __future__ import annotations

import pytest

from comments.errors import Problem
from comments.validate import uri

SAME_PAGE = [
    ("/post", "/post/"),
    ("/post/", "/post/"),
    ("/post/index.html", "/post/"),
    ("/post/index.htm", "/post/"),
    ("/index.html", "/"),
    ("https://www.example.org/post/", "/post/"),
    ("https://example.org:443/post/#comments", "/post/"),
    ("http://example.org:8080/post", "/post/"),
    ("https://example.org", "/"),
    ("/2026//11/post/", "/2026/11/post/"),
    ("/a/./b/../c", "/a/c/"),
    ("/a/%2e%2E/b/", "/b/"),
    ("/../../x/", "/x/"),
    ("/%7euser/", "/~user/"),
    ("/%7Euser/", "/~user/"),
    ("/~user/", "/~user/"),
    ("/%41bc/", "/Abc/"),
    ("/it%27s/", "/it's/"),
    ("/caf%c3%a9/", "/caf%C3%A9/"),
    ("/café/", "/caf%C3%A9/"),
    ("/about.html/", "/about.html"),
    ("/feed.xml", "/feed.xml"),
    ("/post/?utm_source=feed&fbclid=x", "/post/"),
]


@pytest.mark.parametrize(("raw", "key"), SAME_PAGE)
def test_one_page_one_key(raw, key):
    assert uri(raw, query_parameters=()) == key


# The innocent: what is a different page stays one.
DIFFERENT_PAGES = [
    ("/a%2Fb/", "/a/b/"),  # an escaped slash is part of a segment, not a break
    ("/Post/", "/post/"),  # paths are case-sensitive
    ("/post/INDEX.HTML", "/post/"),  # only the names servers really serve for a folder
    ("/caf%E9/", "/caf%C3%A9/"),  # Latin-1 bytes are not their UTF-8 spelling
    ("/%2541/", "/A/"),  # decoded once, never twice
    ("/a/b/", "/a/"),
]


@pytest.mark.parametrize(("one", "other"), DIFFERENT_PAGES)
def test_different_pages_keep_different_keys(one, other):
    assert uri(one) != uri(other)


def test_a_real_escaped_slash_stays_as_it_is():
    assert uri("/a%2Fb/") == "/a%2Fb/"
    assert uri("/a%2fb/") == "/a%2Fb/"


def test_unicode_paths_are_one_key_however_escaped():
    assert uri("/日本語/記事") == uri("/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E8%A8%98%E4%BA%8B/")
    assert uri("/caf%E9/") == "/caf%E9/"  # not UTF-8: kept byte for byte


def test_query_parameters_a_site_lists_make_another_page():
    listed = {"q"}
    assert uri("/search?q=x", query_parameters=listed) == "/search/?q=x"
    assert uri("/search?q=x", query_parameters=listed) != uri(
        "/search?q=y", query_parameters=listed
    )
    assert uri("/search?q=x&utm_source=a", query_parameters=listed) == "/search/?q=x"
    assert uri("/search?utm_source=a", query_parameters=listed) == "/search/"
    # WordPress: ?p=123, in any order and escaping.
    wordpress = {"p", "page_id"}
    assert uri("/?page_id=2&p=1", query_parameters=wordpress) == "/?p=1&page_id=2"
    assert uri("/?p=%31", query_parameters=wordpress) == "/?p=1"
    assert uri("/?q=a+b", query_parameters={"q"}) == uri("/?q=a%20b", query_parameters={"q"})
    assert uri("/?q=%26", query_parameters={"q"}) == "/?q=%26"  # an escaped & is a value


def test_without_a_list_every_parameter_is_kept_sorted():
    assert uri("http://old.example/2012/post/?p=1#c") == "/2012/post/?p=1"
    assert uri("/x?b=2&a=1&b=1") == "/x/?a=1&b=2&b=1"


@pytest.mark.parametrize("raw", [raw for raw, _ in SAME_PAGE] + ["/s?q=x&p=1&z=%26", "/?q=café"])
@pytest.mark.parametrize("listed", [None, (), ("q",), ("p", "q")])
def test_a_key_is_its_own_key(raw, listed):
    key = uri(raw, query_parameters=listed)
    assert uri(key, query_parameters=listed) == key
    # Filtering a key that kept every parameter gives the key of the address itself.
    assert uri(uri(raw), query_parameters=listed) == key


@pytest.mark.parametrize("raw", ["post/", "ftp://x/post/", "/a b/", "", "/x\x00/", "javascript:x"])
def test_what_is_no_page_is_refused(raw):
    with pytest.raises(Problem):
        uri(raw)


def test_a_key_grown_too_long_by_escaping_is_refused():
    with pytest.raises(Problem) as raised:
        uri("/" + "é" * 900)
    assert raised.value.code == "field_too_long"

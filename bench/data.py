"""Seeded, deterministic comment data: sites of threads written like readers write.

Standard library only: the Isso loader imports this module from Isso's own virtualenv.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = "comments-bench-1"
SITES = ("small", "big")
# What each site holds, as (threads, comments), and the single threads every site also carries.
PROFILES = {
    "full": {"small": (20, 1_400), "big": (2_000, 100_000), "singles": (10, 100, 1_000, 10_000)},
    "quick": {"small": (20, 1_400), "big": (200, 10_000), "singles": (10, 100, 1_000)},
}
REPLY_SHARE = 0.3
MAX_DEPTH = 6  # a top-level comment is at depth 1
TEXT_LENGTH = (200, 1_500)
EPOCH = 1_735_689_600.0  # 2025-01-01T00:00:00Z
SPAN = 2 * 365 * 86_400  # threads start over two years

VOCABULARY = (
    "the of and to in is it that for on with as was this but be at by not are from or have an "
    "they which one you were all we her she there been if more when will would who so no "
    "article post argument point reader author comment thread source data claim evidence policy "
    "budget vote election party council minister report study survey figure chart number rate "
    "year week today history question answer reason example problem solution change cost price "
    "market school city river bridge train road library garden kitchen coffee book chapter "
    "agree disagree think believe wonder suspect remember notice read wrote said asked argued "
    "really quite perhaps clearly actually simply rather mostly probably certainly honestly "
    "interesting wrong right fair unfair useful misleading careful detailed short long strange"
)
WORDS = VOCABULARY.split()
FIRST_NAMES = "Ada Ben Chloe Dev Elif Femi Greta Hugo Ines Jonas Kira Leo Mina Nils Omar Priya"
LAST_NAMES = "Alder Brook Castell Dunmore Ekberg Fontaine Grimaldi Hale Ivers Jansen Kowal Lund"


@dataclass(frozen=True)
class Author:
    name: str | None
    email: str | None
    website: str | None


@dataclass(frozen=True)
class Entry:
    """One comment of a generated thread; `parent` is the index of an earlier entry."""

    parent: int | None
    author: Author
    text: str
    created: float  # POSIX seconds, increasing within the thread


@dataclass(frozen=True)
class GenThread:
    uri: str
    title: str
    entries: list[Entry]


def single_uri(size: int) -> str:
    return f"/bench/thread-{size}/"


def site_plan(profile: str, site: str) -> list[tuple[str, int]]:
    """(URI, size) of each of a site's own threads."""
    count, total = PROFILES[profile][site]
    sizes = thread_sizes(random.Random(f"{SEED}:{site}:{count}:{total}"), count, total)
    return [(f"/{site}/{index:04d}/", size) for index, size in enumerate(sizes)]


def single_plan(profile: str) -> list[tuple[str, int]]:
    """(URI, size) of the single threads of 10 to 10,000 comments that every site carries."""
    return [(single_uri(size), size) for size in PROFILES[profile]["singles"]]


def thread_sizes(rng: random.Random, count: int, total: int) -> list[int]:
    """`count` sizes adding up to `total`, skewed like real traffic (a few popular posts)."""
    weights = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = (total - count) / sum(weights)
    sizes = [1 + int(weight * scale) for weight in weights]
    for index in range(total - sum(sizes)):  # hand out what rounding down left over
        sizes[index % count] += 1
    return sizes


def make_thread(uri: str, size: int) -> GenThread:
    """The same URI and size always give the same thread, on every site that has it."""
    rng = random.Random(f"{SEED}:{uri}:{size}")
    authors = [make_author(rng) for _ in range(max(3, size // 4))]
    created = EPOCH + rng.random() * SPAN
    entries: list[Entry] = []
    depths: list[int] = []
    for index in range(size):
        parent = pick_parent(rng, depths) if index else None
        depths.append(1 if parent is None else depths[parent] + 1)
        created += rng.expovariate(1 / 600)  # ten minutes apart on average
        entries.append(Entry(parent, rng.choice(authors), make_text(rng), round(created, 3)))
    return GenThread(uri, f"Post {uri.strip('/')}", entries)


def thread_votes(thread: GenThread) -> list[int]:
    """Upvotes of each comment, skewed as readers vote (most get none, a few many). From a
    generator of their own, so the threads' texts stay what they were before votes."""
    rng = random.Random(f"{SEED}:votes:{thread.uri}")
    return [int(rng.lognormvariate(0, 1.4)) if rng.random() < 0.4 else 0 for _ in thread.entries]


def pick_parent(rng: random.Random, depths: list[int]) -> int | None:
    """A recent comment that can take a reply, for REPLY_SHARE of comments; otherwise None."""
    if rng.random() >= REPLY_SHARE:
        return None
    for _ in range(8):
        candidate = len(depths) - 1 - min(int(rng.expovariate(1 / 6)), len(depths) - 1)
        if depths[candidate] < MAX_DEPTH:
            return candidate
    return None


def make_author(rng: random.Random) -> Author:
    if rng.random() < 0.05:
        return Author(None, None, None)
    first = rng.choice(FIRST_NAMES.split())
    last = rng.choice(LAST_NAMES.split())
    name = f"{first} {last}"
    handle = f"{first}.{last}{rng.randrange(100)}".lower()
    email = f"{handle}@example.org" if rng.random() < 0.7 else None
    website = f"https://{handle.replace('.', '-')}.example.net/" if rng.random() < 0.2 else None
    return Author(name, email, website)


def make_text(rng: random.Random) -> str:
    """200 to 1,500 characters of Markdown: paragraphs, links, emphasis, sometimes a quote."""
    low, high = TEXT_LENGTH
    target = rng.randint(low, high)
    text = "> " + sentence(rng) + "\n\n" if rng.random() < 0.25 else ""
    while len(text) < target:
        following = text + sentence(rng)
        if len(following) > high:
            break
        text = following + ("\n\n" if rng.random() < 0.3 else " ")
    return text.strip()


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 18))
    words[0] = words[0].capitalize()
    roll = rng.random()
    spot = rng.randrange(1, len(words))
    if roll < 0.15:
        words[spot] = f"[{words[spot]}](https://example.org/notes/{rng.randrange(10_000)})"
    elif roll < 0.3:
        words[spot] = f"*{words[spot]}*"
    elif roll < 0.38:
        words[spot] = f"**{words[spot]}**"
    elif roll < 0.42:
        words[spot] = f"https://example.com/{rng.randrange(1_000)}"
    return " ".join(words) + rng.choice(".....?!")

"""What the browser tests do to the widget: find it, write in it, read its styles."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

# Light theme defaults of static/embed.css, as computed colours.
FG = "rgb(28, 33, 39)"
ACCENT = "rgb(11, 98, 196)"
BG = "rgb(255, 255, 255)"
DARK_BG = "rgb(21, 24, 28)"


def open_thread(page: Page, url: str, selector: str = "#comments") -> Locator:
    """Go to `url` and wait until the thread in `selector` has loaded."""
    page.goto(url)
    widget = page.locator(selector)
    expect(widget.locator(".cm-title")).to_have_text(re.compile(r"comment", re.I))
    return widget


def write(form: Locator, text: str, **fields: str) -> None:
    """Fill a comment form: text plus any of author, email, website; then post it."""
    form.locator("textarea").fill(text)
    for name, value in fields.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("button[type=submit]").click()


def comments(widget: Locator) -> Locator:
    return widget.locator(".cm-list > li")


def focused(page: Page) -> str:
    """Name, button text or tag of the element with focus, looking into shadow roots."""
    return page.evaluate(
        """() => {
          let e = document.activeElement;
          while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
          if (!e) return '';
          return e.name || (e.tagName === 'BUTTON' ? e.textContent : e.tagName.toLowerCase());
        }"""
    )


def style(locator: Locator, prop: str) -> str:
    return locator.evaluate("(e, p) => getComputedStyle(e).getPropertyValue(p)", prop)

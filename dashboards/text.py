"""Data shown as text, never as Markdown: the one escaping helper of the dashboard.

Streamlit renders ``st.markdown``, captions, alerts, headers and every widget label (expanders,
metrics, select boxes, buttons, tabs) as GitHub-flavoured Markdown (CommonMark) with extensions:
raw HTML (dropped unless ``unsafe_allow_html``), links and images, autolinks, ``:red[...]`` colour
and ``:material/...:`` icon directives, emoji shortcodes, LaTeX between ``$``. A stored value (an
attribute level in a stratum, a ticket title, a user name) must reach the page as the characters it
holds, so every string that carries data goes through :func:`md` before it is put into Markdown.

How: CommonMark lets any ASCII punctuation character be escaped with a backslash, and an escaped
character is always literal (CommonMark 0.31, section 2.4 "Backslash escapes"); escaping *all* of
them turns off every construct that starts with punctuation (links ``[``, images ``!``, HTML ``<``,
entities ``&``, directives ``:``, maths ``$``, emphasis ``*``/``_``/``~``, code `````, tables ``|``,
headings ``#``, lists ``-``/``+``/``1.``). Streamlit's front end rewrites some things on the parsed
text, after escapes are resolved: emoji and icon shortcodes (``:smile:``, ``:material/home:``,
``:streamlit:``), literal autolinks (``http://``, ``www.``, ``a@b.org``) and arrows (``->``, ``<=``,
``--``). A word joiner (U+2060: invisible, not a space, no line break) is put inside each of those
patterns (after a ``:`` or ``@`` that a word or ``/`` follows, after ``www``, after the first
character of an arrow standing between spaces), so they no longer match. Line breaks would start
new blocks, so control characters become spaces. The dashboard uses no ``unsafe_allow_html`` and
no ``st.html``.

Reference: CommonMark Spec 0.31.2, https://spec.commonmark.org/0.31.2/#backslash-escapes;
Streamlit ``st.markdown`` documentation (supported syntax).
"""

from __future__ import annotations

import re
import string
from typing import Any

__all__ = ["WORD_JOINER", "md", "plain"]

WORD_JOINER = "\u2060"
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
#: Places where the front end would match a shortcode, an autolink or an arrow after parsing.
_BREAKS = re.compile(r"(?<=[:@])(?=[\w+/-])|(?<=www)(?=\.)", re.IGNORECASE)
#: Streamlit's typographic replacements: these pairs alone between spaces become arrows and dashes.
_ARROWS = re.compile(r"(?:(?<=\s)|^)(<(?=->)|[-<>~](?=[->=](?:\s|$)))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def plain(value: Any) -> str:
    """``value`` as one line of text: control characters and line breaks become one space."""
    return _CONTROL.sub(" ", "" if value is None else str(value))


def md(value: Any) -> str:
    """``value`` escaped for Streamlit Markdown: shown literally, nothing interpreted.

    >>> md("[a](x)") == r"\\[a\\]\\(x\\)"
    True
    """
    broken = _ARROWS.sub(lambda m: m.group(1) + WORD_JOINER, _BREAKS.sub(WORD_JOINER, plain(value)))
    return _PUNCTUATION.sub(r"\\\1", broken)

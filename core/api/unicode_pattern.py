"""The service model's Unicode-category patterns (``[\\p{L}\\p{M}\\p{Z}\\p{N}\\p{P}]*``), which
Python's ``re`` cannot compile: every one is a single character class repeated, so it is checked by
each character's Unicode category (``unicodedata``) plus the class's literal characters."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# An optional group around one class, repeated by * or {m,n}; the model also writes a trailing
# "${1,256}" (an end anchor with a quantifier, a no-op in Java) that the service ignores.
_FORM = re.compile(r"\(?\[(?P<body>(?:\\p\{[A-Z]\}|\\.|[^\]\\])+)\](?P<rep>\*|\{\d+,\d+\})\)?(?:\$(?:\{\d+,\d+\})?)?")
_ITEM = re.compile(r"\\p\{(?P<cat>[A-Z])\}|\\(?P<esc>.)|(?P<lit>.)")


def unicode_class_matcher(pattern: str) -> Callable[[str], bool] | None:
    """A full-match test for ``pattern`` when it is such a class, or None when it is not one."""
    if "\\p{" not in pattern:
        return None
    form = _FORM.fullmatch(pattern)
    if form is None:
        return None
    categories: set[str] = set()
    literals: set[str] = set()
    for item in _ITEM.finditer(form["body"]):
        if item["cat"]:
            categories.add(item["cat"])
        else:
            literals.add(item["esc"] or item["lit"])
    low, high = 0, None
    if form["rep"] != "*":
        low_text, high_text = form["rep"][1:-1].split(",")
        low, high = int(low_text), int(high_text)
    cats = frozenset(categories)
    lits = frozenset(literals)

    def matches(value: str) -> bool:
        if len(value) < low or (high is not None and len(value) > high):
            return False
        return all(ch in lits or unicodedata.category(ch)[0] in cats for ch in value)

    return matches

"""Error messages that quote what a file or a caller gave, at a bounded length.

A value from a hostile file can be a string of a hundred megabytes, or a structure whose plain
`repr()` would be exponentially long (tuples that reuse each other). Messages quote such values
through `short_repr`, which looks at a few items of a few levels only, and `shorten` caps the text.
"""

from __future__ import annotations

import reprlib

MAX_MESSAGE_CHARS = 2000

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxtuple = _repr.maxlist = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 4
_repr.maxstring = _repr.maxother = _repr.maxlong = 80


def short_repr(value: object) -> str:
    """`repr(value)` of at most a few hundred characters, however big or deep the value is."""
    try:
        return _repr.repr(value)
    except Exception:  # an object whose own __repr__ fails
        return f"<a {type(value).__name__}>"


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]} ... [{len(text) - limit + 40} more characters]"

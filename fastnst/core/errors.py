"""The one exception type for user mistakes (bad files, flags, checkpoints)."""

from __future__ import annotations


class FastNSTError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits with 2."""


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when empty), at most `limit`
    characters: third-party errors can span pages, and users get one line."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__

"""The one exception type for user mistakes (bad files, flags, checkpoints)."""

from __future__ import annotations


class FastNSTError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits with 2."""


class ParameterError(FastNSTError):
    """A library parameter out of its range, in the library's words: `str()` reads
    "tile must be at least 64 px", which API and web users see as it is. A command maps the
    parameter to its own flag (`as_flag()`: "--tile must be at least 64 px").

    parameter: the keyword or field name (`smooth_method`); problem: the rest of the sentence.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem

    def as_flag(self) -> str:
        """The message with the parameter written as the command-line flag of the same name."""
        return f"--{self.parameter.replace('_', '-')} {self.problem}"


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when empty), at most `limit`
    characters: third-party errors can span pages, and users get one line."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__

"""The one exception type for user mistakes (bad files, flags, checkpoints)."""


class FastNSTError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits with 2."""

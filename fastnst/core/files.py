"""Output files that appear whole or not at all, and checks that an output place is writable."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastnst.core.errors import FastNSTError


def check_writable_dir(folder: Path) -> None:
    """Raise FastNSTError unless files can be created in `folder` (tried, not guessed)."""
    if not folder.is_dir():
        raise FastNSTError(f"output folder does not exist: {folder}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fastnst-probe-"):
            pass
    except OSError as err:
        raise FastNSTError(f"cannot write to folder {folder}: {err.strerror}") from None


def _process_umask() -> int:
    """The process's file-creation mask. Reading it means setting it, so this runs once, at
    import (single-threaded): doing it per write would race with threads creating files."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK = _process_umask()


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves no file behind.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                        suffix=".tmp" + path.suffix)
    except OSError as err:
        raise FastNSTError(f"cannot write {path}: {err.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def parent_dir(path: Path) -> Path:
    """The folder a file path would be created in ('.' for a bare name)."""
    return path.parent if str(path.parent) else Path(".")


def check_output_file(path: str | Path, suffixes: tuple[str, ...], flag: str = "-o",
                      what: str = "output") -> Path:
    """Check, before any work, that `path` has one of `suffixes` and its folder is writable.

    Raises FastNSTError naming the flag and the accepted suffixes (e.g. for `-o out.gif`).
    Returns the path.
    """
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise FastNSTError(f"{flag} {path}: {what} must end in {', '.join(suffixes)}")
    check_writable_dir(parent_dir(path))
    return path

"""Command-line entry points, one module per command; each `main(argv) -> int` returns the
exit code. User mistakes become one stderr line and exit code 2. Only `fastnst-train` (and
the training rows of `fastnst-bench`) import Lightning.
"""

"""Command-line entry points, one module per command; each `main(argv) -> int` returns the
exit code. User mistakes become one stderr line and exit code 2. Only `fastnst-train` (and
the training rows of `fastnst-bench`) import Lightning.
"""

COMMANDS = ("train", "stylize", "slow", "invert", "photo", "eval", "info", "sheet", "export",
            "bench", "prepare_data", "web")  # fastnst.cli.<name>: the console script fastnst-<name>


def program(module: str) -> str:
    """The console script of command module `module` ("prepare_data" -> "fastnst-prepare-data")."""
    return f"fastnst-{module.replace('_', '-')}"

"""The package's floors (docs/architecture.md): a subpackage imports only the ones below it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# Bottom to top, as in docs/architecture.md; names on one floor do not import each other.
FLOORS = (("core",), ("lossnets",), ("models",), ("losses",), ("inference",), ("slow",),
          ("evaluation",), ("photoreal",), ("training",), ("bench", "web"), ("cli",))
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def fastnst_imports(source: str) -> set[str]:
    """The fastnst subpackages a module's source imports (absolute imports, at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found |= {m.split(".")[1] for m in modules if m.startswith("fastnst.") and "." in m}
    return found


def upward_imports(package: Path) -> list[str]:
    """'module -> subpackage' for every import of a subpackage on the same or a higher floor.
    `__main__.py` files are entry points (`python -m fastnst.web` runs the command)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if len(parts) < 2 or parts[0] not in FLOOR or path.name == "__main__.py":
            continue
        for target in fastnst_imports(path.read_text()):
            if target in FLOOR and target != parts[0] and FLOOR[target] >= FLOOR[parts[0]]:
                found.append(f"{path.relative_to(package.parent)} -> fastnst.{target}")
    return found


def test_every_subpackage_is_on_a_floor() -> None:
    package = ROOT / "fastnst"
    subpackages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(FLOOR)


def test_no_subpackage_imports_one_above_it() -> None:
    assert upward_imports(ROOT / "fastnst") == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    package = tmp_path / "fastnst"
    for name, source in {"core/images.py": "from fastnst.inference.stylizer import Stylizer\n",
                         "inference/video.py": "import fastnst.core.images\n",
                         "bench/report.py": "def f():\n    from fastnst.web import app\n"}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    assert upward_imports(package) == ["fastnst/bench/report.py -> fastnst.web",
                                       "fastnst/core/images.py -> fastnst.inference"]


def test_training_imports_neither_video_nor_the_slow_methods() -> None:
    """fastnst-train loads only what a training run uses: not the slow baseline (its quality
    report imports it only for --eval-baseline-iters), video, photoreal transfer or the web."""
    code = ("import sys, fastnst.cli.train, fastnst.training.train\n"
            "unused = ('fastnst.slow', 'fastnst.inference.video', 'fastnst.photoreal', "
            "'fastnst.web', 'av', 'cv2')\n"
            "print(sorted(m for m in sys.modules if m.startswith(unused)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "[]"

"""The wheel `pip install .` makes: every module, the shipped models (checkpoints/) and recipes
(configs/) mapped from the repository root into the package, the assets, the console scripts,
nothing from tests/ or runs/; and, unpacked outside the repository, `--model starry_night` and
`--config quick` find their files inside the package.

Offline: pip builds with the environment's setuptools (--no-build-isolation --no-index).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from fastnst.cli import COMMANDS as CLI_MODULES
from fastnst.cli import program
from tests.conftest import CONTENT, ROOT

pytest.importorskip("setuptools")
PACKAGE = ROOT / "fastnst"
# Where each folder of the wheel comes from (pyproject.toml's package-dir).
SOURCES = {"fastnst": PACKAGE, "fastnst/configs": ROOT / "configs",
           "fastnst/checkpoints": ROOT / "checkpoints"}
COMMANDS = {program(module): module for module in CLI_MODULES}  # every documented command


def package_files(pattern: str, folder: str = "fastnst") -> set[str]:
    """Wheel-style names ('fastnst/...') of the repository's files matching `pattern` in the
    folder that becomes `folder` in the wheel."""
    source = SOURCES[folder]
    return {f"{folder}/{path.relative_to(source).as_posix()}" for path in source.glob(pattern)
            if "__pycache__" not in path.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fastnst's wheel, built from a copy of the sources: building in the repository would
    write build/ and fastnst.egg-info/ there, and setuptools packs whatever an earlier build
    left in build/lib (modules since deleted included) into the wheel."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in SOURCES.values():
        shutil.copytree(folder, source / folder.name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--wheel-dir", str(out), str(source)],
                   check=True, cwd=source, capture_output=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    (built,) = out.glob("fastnst-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_holds_every_module_and_no_tests_or_runs(names: set[str]) -> None:
    modules = {name for name in names if name.endswith(".py")}
    assert modules == set().union(*(package_files("**/*.py", folder) for folder in SOURCES))
    # every folder of modules is a regular package, not a namespace one
    for module in modules:
        assert f"{module.rsplit('/', 1)[0]}/__init__.py" in names, module
    assert {"fastnst/models/registry.py", "fastnst/cli/stylize.py",
            "fastnst/configs/__init__.py", "fastnst/checkpoints/__init__.py"} <= modules
    assert {name.split("/", 1)[0] for name in names} == {"fastnst", "fastnst-0.2.0.dist-info"}
    assert not any(part in ("tests", "runs") for name in names for part in name.split("/"))


def test_wheel_holds_models_configs_assets_and_py_typed(wheel: Path, names: set[str]) -> None:
    manifest = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())
    assert "starry_night" in manifest  # the README demo's model
    with zipfile.ZipFile(wheel) as archive:
        assert json.loads(archive.read("fastnst/checkpoints/manifest.json")) == manifest
        for entry in manifest.values():
            data = archive.read(f"fastnst/checkpoints/{entry['file']}")
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    configs = package_files("**/*.yaml", "fastnst/configs")
    images = package_files("assets/**/*.jpg") | package_files("assets/**/*.png")
    assert "fastnst/configs/debug.yaml" in configs and len(images) >= 15
    assert configs | images | {"fastnst/py.typed"} <= names


def test_wheel_declares_the_console_scripts(wheel: Path, names: set[str]) -> None:
    info = configparser.ConfigParser()
    with zipfile.ZipFile(wheel) as archive:
        info.read_string(archive.read("fastnst-0.2.0.dist-info/entry_points.txt").decode())
    scripts = dict(info["console_scripts"])
    for command, module in COMMANDS.items():
        assert scripts[command] == f"fastnst.cli.{module}:main"
        assert f"fastnst/cli/{module}.py" in names


def test_unpacked_wheel_stylizes_with_its_own_shipped_model_and_recipes(
        wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    work = tmp_path / "elsewhere"  # no checkpoints/ folder, not the repository
    work.mkdir()
    Image.open(CONTENT).convert("RGB").resize((40, 30)).save(work / "photo.jpg")
    code = ("import sys, fastnst; from fastnst.cli.stylize import main; "
            "from fastnst.models.checkpoint import resolve_model; "
            "from fastnst.core.settings import config_file; "
            "print(fastnst.__file__); print(resolve_model('starry_night').resolve()); "
            "print(config_file('quick').resolve()); "
            "sys.exit(main(['--model', 'starry_night', 'photo.jpg', '-o', 'out.jpg', "
            "'--device', 'cpu']))")
    env = {key: value for key, value in os.environ.items() if key != "FASTNST_CHECKPOINTS"}
    result = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True,
                            text=True, env={**env, "PYTHONPATH": str(site),
                                            "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    package_file, model, quick = result.stdout.splitlines()[:3]
    assert Path(package_file) == site / "fastnst" / "__init__.py"
    # starry_night is its own shipped file (a file named after the style comes first)
    assert Path(model) == site / "fastnst" / "checkpoints" / "starry_night.ckpt"
    assert Path(quick) == site / "fastnst" / "configs" / "quick.yaml"
    assert Image.open(work / "out.jpg").size == (40, 30)

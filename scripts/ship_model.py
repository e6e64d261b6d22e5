"""Ship a trained model: copy it into the repository's checkpoints/ (installed as
fastnst.checkpoints) as float16, with metadata that names files instead of holding paths of the
machine it was trained on, bundle the exact style images it was trained on (they define the
model: fastnst-eval finds them by SHA-256), and record it in manifest.json.

    python scripts/ship_model.py models/paintings.ckpt --name paintings \
        --styles-from STYLE_DIR --trained-on "cpu (2 cores)"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from fastnst.core.assets import SHIPPED_MODELS_DIR, STYLES_DIR
from fastnst.models.checkpoint import file_sha256, load_model, save_model

# Settings that hold paths on the training machine: kept as file names only.
PATH_KEYS = ("style", "data", "val_data", "eval_data", "runs_dir", "output", "init")


def portable(config: dict[str, Any]) -> dict[str, Any]:
    """The training config with every path reduced to its last part."""
    def name(value: Any) -> Any:
        if isinstance(value, list):
            return [name(item) for item in value]
        return Path(value).name if isinstance(value, str) and "/" in value else value

    return {key: name(value) if key in PATH_KEYS else value for key, value in config.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--name", required=True, help="the shipped file's name (NAME.ckpt)")
    parser.add_argument("--styles-from", type=Path, required=True,
                        help="folder holding the style images the model was trained on")
    parser.add_argument("--trained-on", default="cpu (2 cores)")
    args = parser.parse_args(argv)
    net, meta = load_model(args.model)
    meta = {**meta, "config": portable(meta.get("config", {}))}
    if meta.get("init"):
        meta["init"] = Path(str(meta["init"])).name
    styles = list(getattr(net, "styles", ())) or [meta["style"]]
    hashes: dict[str, str] = {}
    for style in styles:
        expected = (meta["styles"][style]["sha256"] if net.styles  # type: ignore[union-attr]
                    else meta["style_sha256"])
        source = next(args.styles_from.glob(f"{style}.*"))
        if file_sha256(source) != expected:
            raise SystemExit(f"{source}: not the image {style} was trained on (SHA-256 differs)")
        shutil.copyfile(source, STYLES_DIR / source.name)
        hashes[style] = expected
    target = SHIPPED_MODELS_DIR / f"{args.name}.ckpt"
    save_model(net, target, meta={key: value for key, value in meta.items()
                                  if key not in ("fastnst_version", "weights_dtype")},
               half=True)
    manifest_path = SHIPPED_MODELS_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[args.name] = {"file": target.name, "sha256": file_sha256(target),
                           "bytes": target.stat().st_size,
                           # A multi-style file lists its styles; a plain one has one image.
                           **({"styles": hashes} if net.styles  # type: ignore[union-attr]
                              else {"style_sha256": hashes[styles[0]]}),
                           "steps": meta.get("steps"), "images_seen": meta.get("images_seen"),
                           "weights_dtype": "float16", "trained_on": args.trained_on}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB), styles {', '.join(styles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

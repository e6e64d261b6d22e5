"""fastnst.checkpoints: the shipped models and their manifest, mapped into the package by
pyproject.toml; found with importlib.resources (fastnst.core.assets)."""

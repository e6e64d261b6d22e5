"""fastnst.configs: the YAML training recipes (default, debug, fast, quick, photoreal), mapped into
the package by pyproject.toml; found with importlib.resources (fastnst.core.assets)."""

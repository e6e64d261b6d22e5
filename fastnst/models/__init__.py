"""Transform nets, their architecture registry and the versioned checkpoint format."""

from fastnst.models import johnson  # noqa: F401  (registers the "johnson" architecture)

"""Transform nets, their architecture registry and the versioned checkpoint format."""

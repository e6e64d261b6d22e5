"""fastnst-bench: timing, FLOP counting, inference and training rows, the report."""

"""Quality: the fixed metric, fastnst-eval reports and contact sheets."""

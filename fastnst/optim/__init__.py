"""Pixel optimisation: the Gatys et al. baseline (and later photoreal and feature inversion)."""

"""Shared groundwork: errors, image I/O, atomic files, devices, memory, config loading.

Nothing here imports Lightning or builds a network.
"""

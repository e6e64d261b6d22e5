#!/usr/bin/env bash
# Build .carry/ for the GPU run (docs/gpu.md): VGG19 weights, the shipped styles, ~1,400
# training photos re-encoded small and the held-out eval photos; checks that the tree plus
# .carry/ stay within 62 MiB and reports the total. Run here (not on the GPU machine), from
# anywhere, with the venv active. Flags go to scripts/gpu/carry.py (--help).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 scripts/gpu/carry.py "$@"

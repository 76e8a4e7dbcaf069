"""The helpers' own tests: the pure parts of medtune_py, run by `npm test` (scripts/pytools.mjs) in the venv."""
import sys
from pathlib import Path

# `medtune_py` is imported from this checkout, as the helpers run (python -m medtune_py.X from python/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

"""benchmarks/reference_prepare.py, the literal reference preparation, loaded for the tests:
`from reference_literal import literal`."""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_prepare.py"
_spec = importlib.util.spec_from_file_location("reference_prepare", _path)
literal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(literal)

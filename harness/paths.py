"""Where the project's fixed files live, resolved from this package so any cwd works."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
CASES = ROOT / "cases"
ADAPTERS = ROOT / "adapters"
CASE_SCHEMA = SPEC / "case.schema.json"
REQUIREMENTS = SPEC / "requirements.yaml"

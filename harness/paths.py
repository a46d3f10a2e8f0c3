"""Where the project's fixed files live, resolved from this package so any cwd works.

The package `sockets_conformance` is the folder harness/ of a checkout. Installed, its data
(cases/, spec/) and its sibling packages (servers/, adapters/) sit inside it; in a checkout
(editable install) they are harness/'s siblings. ROOT is the folder that holds them either way.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE if (PACKAGE / "cases").is_dir() else PACKAGE.parent
INSTALLED = ROOT == PACKAGE      # a wheel install, not a checkout
SPEC = ROOT / "spec"
CASES = ROOT / "cases"
ADAPTERS = ROOT / "adapters"
ALLURE = PACKAGE / "allure"      # the pinned Allure renderer's npm package
CASE_SCHEMA = SPEC / "case.schema.json"
REQUIREMENTS = SPEC / "requirements.yaml"


def npm_install_command(folder: Path) -> str:
    """The command that installs an npm part (an adapter's runtime, the Allure renderer) from
    its lockfile: relative to the working directory in a checkout, absolute when installed."""
    where = folder.resolve()
    cwd = Path.cwd().resolve()
    shown = where.relative_to(cwd).as_posix() if where.is_relative_to(cwd) else str(where)
    return f"npm ci --prefix {shown}"

"""The `sockets-conformance` command: the bundled suite through pytest, from any directory.

    sockets-conformance --adapter node -q                  # every bundled case
    sockets-conformance --adapter reference --area close   # pytest's and the plugin's options
    sockets-conformance --cases-dir ./my-cases             # the bundled cases and your own
    sockets-conformance check | coverage | report | ...    # = python -m sockets_conformance ...

It is pytest with the harness plugin (loaded through its pytest11 entry point) and the bundled
cases/ as the first path, so it needs no checkout and no configuration file. The rootdir is the
working directory, so pytest's cache and relative paths stay where the user is.
"""

from __future__ import annotations

import sys

from sockets_conformance.paths import CASES

COMMANDS = ("check", "coverage", "matrix", "diff", "report", "mutants", "bench")


def pytest_arguments(argv: list[str]) -> list[str]:
    """The pytest command line for `argv`: the bundled cases, every `--cases-dir` as a path
    too (so it is collected), and the working directory as rootdir unless one is given."""
    extra: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--cases-dir" and i + 1 < len(argv):
            extra.append(argv[i + 1])
        elif arg.startswith("--cases-dir="):
            extra.append(arg.partition("=")[2])
    rootdir = [] if any(a == "--rootdir" or a.startswith("--rootdir=") for a in argv) \
        else ["--rootdir=."]
    return [*rootdir, *argv, str(CASES), *extra]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        from sockets_conformance.__main__ import main as tool

        return tool(args)
    import pytest

    return int(pytest.main(pytest_arguments(args)))


if __name__ == "__main__":
    sys.exit(main())

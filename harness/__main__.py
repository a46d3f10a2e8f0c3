"""Command line: `python -m harness check | coverage`."""

from __future__ import annotations

import argparse
import sys

from harness.lint import check, coverage
from harness.requirements import catalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="lint the case files and the requirement catalogue")
    cov = sub.add_parser("coverage", help="requirements and the cases that cover them")
    cov.add_argument("--uncovered", action="store_true", help="list only requirements "
                     "without a case")
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = check()
        for p in problems:
            print(p)
        print(f"check: {len(problems)} problem(s)" if problems else "check: OK")
        return 1 if problems else 0

    table, missing = coverage()
    reqs = catalogue()
    for rid, cases in table.items():
        if args.uncovered and cases:
            continue
        print(f"{reqs[rid].level:6} {rid}: {', '.join(cases) if cases else '(no case)'}")
    covered = sum(1 for c in table.values() if c)
    print(f"coverage: {covered}/{len(table)} requirements have a case; "
          f"{len(missing)} MUST/SHOULD without a case")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

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
    rep = sub.add_parser("report", help="run every implementation and write report/")
    rep.add_argument("--out", default="report", help="output folder (default: report)")
    rep.add_argument("--impl", action="append", default=None,
                     help="implementation to run (repeatable; default: reference, node, workerd)")
    rep.add_argument("pytest_args", nargs="*", help="extra arguments for each pytest run")
    args = parser.parse_args(argv)

    if args.command == "report":
        from pathlib import Path

        from harness.reportgen import main as report_main

        names = args.impl or ["reference", "node", "workerd"]
        return report_main(names, Path(args.out), args.pytest_args)

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

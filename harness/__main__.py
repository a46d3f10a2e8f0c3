"""Command line: `python -m sockets_conformance check | coverage | matrix | diff | report |
mutants | bench` (also `sockets-conformance check ...`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from sockets_conformance.gates.lint import check, coverage
from sockets_conformance.model.requirements import catalogue


def _usage_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    """A usage error of `diff` in one line with exit status 4, as the pytest runs say theirs
    (argparse's own is the whole usage text and 2), so a script that acts on diff's 1
    ("something regressed") cannot take a typo for a regression."""
    def error(message: str) -> NoReturn:
        print(f"{parser.prog}: {message}", file=sys.stderr)
        sys.exit(4)
    return error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sockets_conformance")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="lint the case files and the requirement catalogue")
    cov = sub.add_parser("coverage", help="requirements and the cases that cover them")
    cov.add_argument("--uncovered", action="store_true", help="list only requirements "
                     "without a case")
    mat = sub.add_parser("matrix", help="matrix.html and matrix.md from results files")
    mat.add_argument("results", nargs="+", help="results files (--results-jsonl output, or "
                     "report/results.jsonl with several runs)")
    mat.add_argument("--out", default=".", help="output folder (default: here)")
    dif = sub.add_parser("diff", help="the cases whose status changed between two results "
                         "files, regressions first; exit 1 if any regressed")
    dif.add_argument("old", metavar="OLD", help="results file, or FILE#NAME[@VERSION] to pick "
                     "one run of a file with several")
    dif.add_argument("new", metavar="NEW", help="the same, for the newer run")
    dif.add_argument("--implementation", "-i", default="", metavar="NAME[@VERSION]",
                     help="the run to pick in both files (a #NAME on a file wins)")
    dif.error = _usage_error(dif)  # type: ignore[method-assign]
    rep = sub.add_parser("report", help="run every implementation and write report/")
    rep.add_argument("--out", default="report", help="output folder (default: report)")
    rep.add_argument("--impl", action="append", default=None,
                     help="implementation to run (repeatable; default: reference, node, workerd "
                          "and workerd@VERSION for each older workerd release pinned in "
                          "adapters/workerd/releases)")
    rep.add_argument("pytest_args", nargs="*", help="extra arguments for each pytest run")
    mut = sub.add_parser("mutants", help="the mutation gate: every case against every "
                         "mutant of the reference, and the kill matrix")
    mut.add_argument("--mutant", action="append", metavar="ID",
                     help="run only this mutant (repeatable)")
    mut.add_argument("--case", action="append", metavar="PATTERN",
                     help="run only cases matching: an id, a prefix ending in '/', or a "
                          "glob (repeatable); then it reports which mutants each case "
                          "kills, and fails only if one kills none and has no exemption")
    mut.add_argument("--jobs", "-j", type=int, default=None,
                     help="worker processes (default: two per core)")
    mut.add_argument("--timeout-multiplier", type=float, default=0.25,
                     help="scale every step timeout (default 0.25: a killed mutant's pending "
                          "promise should not cost the full 2 s)")
    mut.add_argument("--pending-window", type=float, default=0.05, metavar="SECONDS",
                     help="how long a 'pending' expectation watches (default 0.05)")
    mut.add_argument("--json", metavar="PATH", help="also write the matrix as JSON")
    ben = sub.add_parser("bench", help="benchmark: suite wall time per implementation, "
                         "harness overhead, growth, throughput and latency (one table)")
    ben.add_argument("--impl", action="append", default=None,
                     help="implementation (repeatable; default: reference, node, workerd)")
    ben.add_argument("--size", type=int, default=64 * 1024 * 1024, metavar="BYTES",
                     help="bytes of each transfer (default 64 MiB)")
    ben.add_argument("--runs", type=int, default=3,
                     help="transfers each way per implementation; the median counts")
    ben.add_argument("--samples", type=int, default=30,
                     help="connect-to-opened samples per implementation; the median counts")
    ben.add_argument("--rounds", type=int, default=3,
                     help="-n auto runs per implementation, taken in turns; the median "
                          "counts (default 3)")
    ben.add_argument("--repeat", type=int, default=10,
                     help="replicate the reference suite this many times (default 10)")
    ben.add_argument("--timeout-multiplier", type=float, default=1.0,
                     help="passed to every run (it also stretches 'pending' windows)")
    ben.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                     help="first wait up to this long for the load average to drop below "
                          "--idle-load")
    ben.add_argument("--idle-load", type=float, default=0.3)
    ben.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    if args.command == "bench":
        from sockets_conformance.gates.bench import main as bench_main

        return bench_main(args)

    if args.command == "mutants":
        from sockets_conformance.gates.mutation import main as mutants_main

        return mutants_main(args)

    if args.command == "matrix":
        from pathlib import Path

        from sockets_conformance.reports.matrix import write
        from sockets_conformance.reports.results_file import ResultsFileError

        try:
            columns = write([Path(p) for p in args.results], Path(args.out))
        except ResultsFileError as exc:   # one line naming file and line
            print(f"matrix: {exc}", file=sys.stderr)
            return 4
        for column in columns:
            print(column.summary())
            if not column.unavailable:
                print(f"  conformance {column.headline(named=False)}")
        return 0

    if args.command == "diff":
        from sockets_conformance.reports.diff import main as diff_main

        return diff_main(args.old, args.new, args.implementation,
                         err=lambda line: print(line, file=sys.stderr))

    if args.command == "report":
        from pathlib import Path

        from sockets_conformance.reports.build import IMPLEMENTATIONS
        from sockets_conformance.reports.build import main as report_main

        names = args.impl or list(IMPLEMENTATIONS)
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

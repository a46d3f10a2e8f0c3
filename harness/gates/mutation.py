"""`python -m sockets_conformance mutants`: the mutation gate. Every case can fail, every bug is
caught.

It runs every case against every mutant of the reference (harness/gates/mutants/) and prints the
kill matrix: mutant -> cases that caught it, case -> mutants it caught, the survivors, the
cases that catch nothing, and each mutant's diagnostic precision (the share of the cases
that kill it which cite a requirement it declares; mutation_precision.py). It fails when a
mutant survives, when a case catches nothing and spec/mutation-exemptions.yaml gives no
reason why, when a case pinned to a mutant (its `breaks`) did not kill it, when a mutant
declares an unknown requirement, or when precision is below target (90% overall, 50% for a
mutant not named in harness/gates/mutants/precision-exemptions.yaml).

Restricted with --case, it answers another question, a case author's: which mutants does
each selected case kill? It fails only when a selected case kills none of the mutants that
ran and has no exemption; mutants the selected cases leave alive are other cases' business
(the full gate judges them). Restricted with --mutant alone, it asks which cases kill those
mutants, and fails on a survivor or on one of them below its precision floor (the 90%
overall target is judged on the full gate only).

How, and why that way:
- In-process, with sockets_conformance.runner.run_case, not one pytest per mutant: pytest's
  start-up and collection would cost more than the cases themselves (the whole suite runs
  in a few seconds against one mutant).
- Over all cores with multiprocessing: each worker process keeps one asyncio loop (an
  asyncio.Runner) and one adapter per mutant, and takes (mutant, case) pairs, so a slow
  case does not hold up a whole mutant's row. Two workers per core by default: much of a
  run is waiting, which the second worker fills.
- With a reduced timeout multiplier (default 0.25): a killed mutant often leaves a promise
  pending, and each such step would otherwise wait the full 2 s. The reference is run first
  with the same settings; every case must PASS there, or the matrix would credit mutants
  with failures the reference has too. The "pending" window is set on its own (default
  0.05 s): it bounds how long a case watches for something that must not happen, and
  passing cases pay it in full.
- The reference runs first, as the control; a case that fails there once gets one more
  run. After the matrix, one kill of each mutant is run again: a mutant
  counts as killed only by a kill that repeats, never by one run that timed out because
  the machine was busy.

The parts: mutation_worker.py runs one (mutant, case) pair in a forked worker (and arms
harness/running/guard.py there, so an egress mutant's connection is refused, never sent);
mutation_matrix.py holds the outcomes, the kill rule and what is judged from them;
mutation_precision.py measures where the failures point; mutation_report.py prints the
matrix and writes it as JSON.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, TextIO

from sockets_conformance.gates.lint import load_all
from sockets_conformance.gates.mutants import catalogue
from sockets_conformance.gates.mutation_matrix import (
    EXEMPTIONS,
    REFERENCE,
    GateReport,
    Outcome,
    exemption_problems,
    kills,
    load_exemptions,
    pin_problems,
)
from sockets_conformance.gates.mutation_precision import (
    PRECISION_EXEMPTIONS,
    load_precision_exemptions,
    precision_problems,
    requirement_problems,
)
from sockets_conformance.gates.mutation_report import render, write_json
from sockets_conformance.gates.mutation_worker import _forked_plain, _init_worker, _run_pair
from sockets_conformance.model import requirements
from sockets_conformance.model.case import Case
from sockets_conformance.model.results import Status
from sockets_conformance.running.guard import install as install_guard
from sockets_conformance.running.runner import Settings

DEFAULT_MULTIPLIER = 0.25
DEFAULT_PENDING = 0.05
# Workers per core: about half of a gate run is waiting (the timeouts of killed mutants,
# "pending" windows), which other workers fill. Measured on 2 cores: 1 per core 275 s,
# 2 per core 156 s, 4 per core 128 s; 2 keeps the reference's big transfers well inside
# their reduced timeouts.
DEFAULT_JOBS_PER_CORE = 2


def select(items: Iterable[str], patterns: Sequence[str] | None) -> list[str]:
    """Ids matching any pattern: an exact id, a prefix ending in '/', or a glob."""
    items = list(items)
    if not patterns:
        return items
    return [i for i in items if any(i == p or (p.endswith("/") and i.startswith(p))
                                    or fnmatch.fnmatchcase(i, p) for p in patterns)]


def run_gate(*, mutant_ids: Sequence[str] | None = None,
             case_patterns: Sequence[str] | None = None, jobs: int | None = None,
             timeout_multiplier: float = DEFAULT_MULTIPLIER,
             pending_window: float = DEFAULT_PENDING, exemptions_path: Path = EXEMPTIONS,
             precision_exemptions_path: Path = PRECISION_EXEMPTIONS,
             cases_root: Path | None = None,
             progress: TextIO | None = None) -> GateReport:
    started = time.perf_counter()
    report, cases, loaded = _plan(mutant_ids, case_patterns, jobs, timeout_multiplier,
                                  pending_window, exemptions_path, cases_root)
    exempt, file_problems = load_precision_exemptions(precision_exemptions_path)
    report.precision_exemptions = exempt
    report.problems += file_problems
    with _start_pool(report, cases) as pool:
        _run_controls(report, pool, cases, progress)
        if report.problems:
            report.seconds = time.perf_counter() - started
            return report
        _run_matrix(report, pool, progress)
        _confirm_kills(report, pool, progress)
    names = {c.id for c in loaded}
    report.problems += exemption_problems(report, names, exemptions_path)
    report.problems += pin_problems(report, names if report.full else None)
    report.problems += precision_problems(report, (m.id for m in catalogue()),
                                          precision_exemptions_path)
    report.seconds = time.perf_counter() - started
    return report


def _plan(mutant_ids: Sequence[str] | None, case_patterns: Sequence[str] | None,
          jobs: int | None, timeout_multiplier: float, pending_window: float,
          exemptions_path: Path, cases_root: Path | None,
          ) -> tuple[GateReport, list[Case], list[Case]]:
    """The empty report (with the problems of the selection and the exemptions file), the
    cases to run, and every case loaded."""
    every = catalogue()
    known = {m.id for m in every}
    problems: list[str] = [f"no mutant {m!r}" for m in mutant_ids or () if m not in known]
    mutants = [m for m in every if m.id in select(known, mutant_ids)]
    problems += requirement_problems(mutants, requirements.catalogue())
    loaded, load_problems = load_all(cases_root) if cases_root else load_all()
    problems += load_problems
    wanted = set(select([c.id for c in loaded], case_patterns))
    cases = [c for c in loaded if c.id in wanted]
    problems += [f"no case matches {p!r}" for p in case_patterns or ()
                 if not select([c.id for c in loaded], [p])]
    exemptions, file_problems = load_exemptions(exemptions_path)
    problems += file_problems
    # The multiplier scales every wait, the pending window included; undo that for the
    # window so that it is the absolute time asked for.
    settings = Settings(timeout_multiplier=timeout_multiplier,
                        pending_window=pending_window / timeout_multiplier)
    jobs = max(1, jobs or DEFAULT_JOBS_PER_CORE * (os.cpu_count() or 1))
    report = GateReport(mutants, [], {}, {}, exemptions,
                        full=not mutant_ids and not case_patterns and cases_root is None,
                        case_mode=bool(case_patterns), all_mutants=not mutant_ids,
                        problems=problems, jobs=jobs, settings=settings,
                        requirements={c.id: tuple(c.requirements) for c in cases})
    return report, cases, loaded


def _start_pool(report: GateReport, cases: list[Case]) -> Pool:
    """The worker pool (leaving it as a context manager terminates the workers), forked
    where the platform can fork."""
    install_guard()
    context = multiprocessing.get_context("fork" if "fork" in
                                          multiprocessing.get_all_start_methods() else None)
    with _forked_plain():
        return context.Pool(report.jobs, _init_worker, (cases, report.settings))


def _run_controls(report: GateReport, pool: Pool, cases: list[Case],
                  progress: TextIO | None) -> None:
    """Every selected case against the reference: the cases that PASS make the matrix's
    columns; NOT-APPLICABLE ones are left out, and any other result is a problem."""
    _say(progress, f"control: the reference, {len(cases)} cases")
    controls = [(REFERENCE, c.id) for c in cases]
    for outcome in pool.imap_unordered(_run_pair, controls):
        _control(report, outcome)
    # A control that fails once under load gets one more run: a case the reference
    # passes only sometimes is reported (kills are confirmed below anyway).
    again = [(o.mutant, o.case) for o in report.baseline.values()
             if o.status not in (Status.PASS.value, Status.NOT_APPLICABLE.value)]
    for outcome in pool.imap_unordered(_run_pair, again):
        if outcome.status == Status.PASS.value:
            report.notes.append(f"{outcome.case} failed once against the {outcome.mutant} "
                                f"and passed on a second run")
        _control(report, outcome)
    ids = [c.id for c in cases]
    for case_id in ids:
        base = report.baseline[case_id]
        if base.status == Status.NOT_APPLICABLE.value:
            report.not_applicable[case_id] = base.message
        elif base.status != Status.PASS.value:
            report.problems.append(f"{case_id} is {base.status} against the reference, "
                                   f"so no mutant can be judged by it: {base.message}")
    report.cases = [c for c in ids if c not in report.not_applicable]


def _run_matrix(report: GateReport, pool: Pool, progress: TextIO | None) -> None:
    """Every mutant against every case that passed its control."""
    pairs = [(m.id, c) for m in report.mutants for c in report.cases]
    _say(progress, f"mutants: {len(report.mutants)} x {len(report.cases)} cases on "
                   f"{report.jobs} worker(s)")
    step = max(1, len(pairs) // 10)
    for i, outcome in enumerate(pool.imap_unordered(_run_pair, pairs, chunksize=2), 1):
        report.outcomes[outcome.mutant, outcome.case] = outcome
        if i % step == 0:
            _say(progress, f"  {i}/{len(pairs)} runs")


def _control(report: GateReport, outcome: Outcome) -> None:
    report.baseline[outcome.case] = outcome


def _confirm_kills(report: GateReport, pool: Pool, progress: TextIO | None) -> None:
    """Run one kill of every mutant again (with --case: one kill by every case), so that
    nothing counts as killed on the strength of a run that failed only because the machine
    was busy (the timeouts are short, and the workers outnumber the cores). The fastest kill
    is tried first (usually a wrong value, not a timeout); a kill that does not repeat is
    replaced by the rerun's outcome and the next kill is tried, until one repeats or none
    is left."""
    def speed(pair: tuple[str, str]) -> float:
        return report.outcomes[pair].seconds

    queue: dict[str, list[tuple[str, str]]]
    if report.case_mode:
        queue = {c: sorted(((m, c) for m in report.caught(c)), key=speed)
                 for c in report.cases}
    else:
        queue = {m.id: sorted(((m.id, c) for c in report.killed_by(m)), key=speed)
                 for m in report.mutants}
    key: Callable[[Outcome], str] = (lambda o: o.case) if report.case_mode \
        else (lambda o: o.mutant)
    mutants = {m.id: m for m in report.mutants}
    _say(progress, "confirming one kill per " + ("case" if report.case_mode else "mutant"))
    while True:
        pairs = [kills_left.pop(0) for kills_left in queue.values() if kills_left]
        if not pairs:
            return
        for outcome in pool.imap_unordered(_run_pair, pairs):
            if kills(outcome, mutants[outcome.mutant]):
                queue[key(outcome)] = []
                continue
            report.notes.append(f"{outcome.mutant}: {outcome.case} caught it once, not on a "
                                f"second run ({outcome.status}); not counted")
            report.outcomes[outcome.mutant, outcome.case] = outcome


def _say(stream: TextIO | None, line: str) -> None:
    if stream is not None:
        print(line, file=stream, flush=True)


def main(args: Any) -> int:
    report = run_gate(mutant_ids=args.mutant, case_patterns=args.case, jobs=args.jobs,
                      timeout_multiplier=args.timeout_multiplier,
                      pending_window=args.pending_window, progress=sys.stderr)
    print(render(report))
    if args.json:
        write_json(report, Path(args.json))
    return 0 if report.ok else 1

"""`python -m sockets_conformance mutants`: the mutation gate. Every case can fail, every bug is
caught.

It runs every case against every mutant of the reference (harness/gates/mutants/) and prints the
kill matrix: mutant -> cases that caught it, case -> mutants it caught, the survivors, and
the cases that catch nothing. It fails when a mutant survives, when a case catches
nothing and spec/mutation-exemptions.yaml gives no reason why, or when a case pinned to a
mutant (its `breaks`) did not kill it.

Restricted with --case, it answers another question, a case author's: which mutants does
each selected case kill? It fails only when a selected case kills none of the mutants that
ran and has no exemption; mutants the selected cases leave alive are other cases' business
(the full gate judges them). Restricted with --mutant alone, it asks which cases kill those
mutants, and fails on a survivor.

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
- The guard (harness/running/guard.py) is installed in every worker before any case runs, and each
  mutant scope arms it as the reference's does: an egress mutant's forbidden connection is
  refused before the system call and fails the case (a kill), never sent.

What counts as a kill: the case ends FAIL, TIMEOUT or ERROR; or NON-STRICT because a step
failed at a SHOULD/MAY requirement (the behaviour was caught, only graded softer). A
NON-STRICT that only saw a different error message kills a mutant of kind "message" (whose
bug is that wording) and nothing else: a behavioural bug must be caught by behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fnmatch
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.gates.lint import load_all
from sockets_conformance.gates.mutants import Mutant, catalogue
from sockets_conformance.model.case import Case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import SPEC
from sockets_conformance.running.adapter import Adapter
from sockets_conformance.running.guard import install as install_guard
from sockets_conformance.running.runner import Settings, run_case

EXEMPTIONS = SPEC / "mutation-exemptions.yaml"
DEFAULT_MULTIPLIER = 0.25
DEFAULT_PENDING = 0.05
# Workers per core: about half of a gate run is waiting (the timeouts of killed mutants,
# "pending" windows), which other workers fill. Measured on 2 cores: 1 per core 275 s,
# 2 per core 156 s, 4 per core 128 s; 2 keeps the reference's big transfers well inside
# their reduced timeouts.
DEFAULT_JOBS_PER_CORE = 2
REFERENCE = "reference"   # the id under which the control runs

FAILED = frozenset({Status.FAIL, Status.TIMEOUT, Status.ERROR})


@dataclass(frozen=True)
class Outcome:
    """One case against one implementation (a mutant, or the reference)."""

    mutant: str
    case: str
    status: str
    caught: str | None   # "fail" | "should" | "message" | None: how the case noticed
    message: str = ""
    seconds: float = 0.0


def caught_by(result: CaseResult) -> str | None:
    """How a result shows that something is wrong (None: it does not)."""
    if result.status in FAILED:
        return "fail"
    if result.status is Status.NON_STRICT:
        # A failure at a SHOULD/MAY requirement is downgraded to NON-STRICT, but its step
        # still says FAIL; a message difference leaves every step "ok" or "NON-STRICT".
        if any(step.outcome in {s.value for s in FAILED} for step in result.steps):
            return "should"
        return "message"
    return None


def kills(outcome: Outcome, mutant: Mutant) -> bool:
    if outcome.caught in ("fail", "should"):
        return True
    return outcome.caught == "message" and mutant.kind == "message"


# the worker side ----------------------------------------------------------------------------

@dataclass
class _Worker:
    cases: dict[str, Case]
    settings: Settings
    runner: asyncio.Runner
    adapters: dict[str, Adapter] = field(default_factory=dict)


_WORKER: _Worker | None = None


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the kernel. The large
    transfer cases allocate tens of MiB per run; by default each such buffer is a fresh
    mmap whose pages the kernel must zero again, thousands of times over a gate run (a
    third of those cases' time). A no-op where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc <malloc.h>


def _init_worker(cases: list[Case], settings: Settings) -> None:
    global _WORKER
    install_guard()  # before any mutant can dial anything
    _keep_freed_memory()
    # Killed mutants leave failed futures behind on purpose; their "never retrieved" log
    # lines would bury the matrix.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    _WORKER = _Worker({c.id: c for c in cases}, settings, asyncio.Runner())


@contextlib.contextmanager
def _forked_plain() -> Iterator[None]:
    """Workers are forked with SIGTERM at its default and SIGINT ignored (Ctrl-C is the
    parent's to handle). A worker forked while the parent has a Python-level SIGTERM handler
    (the driver client's, for one) can lose the SIGTERM of Pool.terminate(): caught by the
    inherited handler before the worker replaces it, then dropped. The gate then waited
    forever in join (seen under xdist). The parent's own handlers come back once the
    workers exist (only a crashed worker is forked again, later)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _adapter(mutant_id: str) -> Adapter:
    assert _WORKER is not None
    if mutant_id not in _WORKER.adapters:
        if mutant_id == REFERENCE:
            adapter: Adapter = ReferenceAdapter()
        else:
            adapter = _mutants()[mutant_id].adapter()
        _WORKER.runner.run(adapter.start())
        _WORKER.adapters[mutant_id] = adapter
    return _WORKER.adapters[mutant_id]


def _mutants() -> dict[str, Mutant]:
    return {m.id: m for m in catalogue()}


def _budget(case: Case, settings: Settings) -> float:
    """A hard stop for one case, far beyond what its steps may take: only a runaway
    implementation (a step that never yields) meets it."""
    return 10.0 + 20 * settings.timeout(case.timeout)


async def _run_isolated(case: Case, adapter: Adapter, settings: Settings) -> CaseResult:
    """run_case, bounded, then every task the case left behind cancelled, so that nothing
    of one mutant runs on into the next case on this loop."""
    try:
        return await asyncio.wait_for(run_case(case, adapter, settings),
                                      _budget(case, settings))
    except TimeoutError:
        return CaseResult(case.id, Status.TIMEOUT,
                          f"the case did not finish within {_budget(case, settings):.0f} s")
    finally:
        current = asyncio.current_task()
        rest = [t for t in asyncio.all_tasks() if t is not current]
        for task in rest:
            task.cancel()
        if rest:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*rest, return_exceptions=True), 2.0)


def _run_pair(pair: tuple[str, str]) -> Outcome:
    mutant_id, case_id = pair
    assert _WORKER is not None
    case = _WORKER.cases[case_id]
    guard = install_guard()
    stray = len(guard.unattributed)
    started = time.perf_counter()
    try:
        result = _WORKER.runner.run(_run_isolated(case, _adapter(mutant_id), _WORKER.settings))
    except Exception:  # a harness problem: shown, and counted like any ERROR
        result = CaseResult(case_id, Status.ERROR, traceback.format_exc(limit=4))
    late = guard.unattributed[stray:]
    if late:  # refused while no case was armed: this case's leftovers, still this mutant's
        result.status = Status.FAIL
        result.message = "; ".join(a.message for a in late) + " (after the case ended)"
    message = result.message.strip().splitlines()[0][:300] if result.message.strip() else ""
    return Outcome(mutant_id, case_id, result.status.value, caught_by(result), message,
                   time.perf_counter() - started)


# the parent side ----------------------------------------------------------------------------

@dataclass
class GateReport:
    mutants: list[Mutant]
    cases: list[str]                                  # case ids that took part
    baseline: dict[str, Outcome]                      # case -> the reference's outcome
    outcomes: dict[tuple[str, str], Outcome]          # (mutant, case) -> outcome
    exemptions: dict[str, str]
    full: bool                                        # the whole catalogue ran
    case_mode: bool = False     # --case: judge each selected case, not the survivors
    all_mutants: bool = True    # no --mutant: every mutant of the catalogue ran
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)                 # flaky runs seen
    not_applicable: dict[str, str] = field(default_factory=dict)   # case -> why
    seconds: float = 0.0
    jobs: int = 1
    settings: Settings | None = None

    def killed_by(self, mutant: Mutant) -> list[str]:
        return [c for c in self.cases if kills(self.outcomes[mutant.id, c], mutant)]

    def noticed_by(self, mutant: Mutant) -> list[str]:
        """Cases that saw only a message difference in a behavioural mutant."""
        return [c for c in self.cases if self.outcomes[mutant.id, c].caught
                and not kills(self.outcomes[mutant.id, c], mutant)]

    def caught(self, case_id: str) -> list[str]:
        return [m.id for m in self.mutants if kills(self.outcomes[m.id, case_id], m)]

    def noticed(self, case_id: str) -> list[str]:
        """Behavioural mutants in which this case saw only a message difference."""
        return [m.id for m in self.mutants if self.outcomes[m.id, case_id].caught
                and not kills(self.outcomes[m.id, case_id], m)]

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.mutants if not self.killed_by(m)]

    @property
    def idle_cases(self) -> list[str]:
        return [c for c in self.cases if not self.caught(c)]

    @property
    def ok(self) -> bool:
        if self.problems or self.unexplained:
            return False
        return self.case_mode or not self.survivors

    @property
    def unexplained(self) -> list[str]:
        """Cases that catch nothing without a written reason: judged on a full run, and for
        the cases a --case run selected (a run of some mutants over every case leaves them
        unjudged)."""
        if not (self.full or self.case_mode):
            return []
        return [c for c in self.idle_cases if c not in self.exemptions]


def load_exemptions(path: Path = EXEMPTIONS) -> tuple[dict[str, str], list[str]]:
    """case id -> reason, and problems with the file itself."""
    if not path.exists():
        return {}, []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    problems: list[str] = []
    entries = raw.get("exemptions") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return {}, [f"{path.name}: expected a mapping with an 'exemptions' list"]
    for i, entry in enumerate(entries):
        case = entry.get("case") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(case, str) or not isinstance(reason, str) or not reason.strip():
            problems.append(f"{path.name}: entry {i + 1} needs a case id and a reason")
            continue
        if case in out:
            problems.append(f"{path.name}: case {case} is listed twice")
        out[case] = reason.strip()
    return out, problems


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
             cases_root: Path | None = None,
             progress: TextIO | None = None) -> GateReport:
    started = time.perf_counter()
    every = catalogue()
    known = {m.id for m in every}
    problems: list[str] = [f"no mutant {m!r}" for m in mutant_ids or () if m not in known]
    mutants = [m for m in every if m.id in select(known, mutant_ids)]
    loaded, load_problems = load_all(cases_root) if cases_root else load_all()
    problems += load_problems
    wanted = set(select([c.id for c in loaded], case_patterns))
    cases = [c for c in loaded if c.id in wanted]
    problems += [f"no case matches {p!r}" for p in case_patterns or ()
                 if not select([c.id for c in loaded], [p])]
    exemptions, exemption_problems = load_exemptions(exemptions_path)
    problems += exemption_problems
    # The multiplier scales every wait, the pending window included; undo that for the
    # window so that it is the absolute time asked for.
    settings = Settings(timeout_multiplier=timeout_multiplier,
                        pending_window=pending_window / timeout_multiplier)
    jobs = max(1, jobs or DEFAULT_JOBS_PER_CORE * (os.cpu_count() or 1))
    report = GateReport(mutants, [], {}, {}, exemptions,
                        full=not mutant_ids and not case_patterns and cases_root is None,
                        case_mode=bool(case_patterns), all_mutants=not mutant_ids,
                        problems=problems, jobs=jobs, settings=settings)
    install_guard()
    context = multiprocessing.get_context("fork" if "fork" in
                                          multiprocessing.get_all_start_methods() else None)
    with _forked_plain():
        pool = context.Pool(jobs, _init_worker, (cases, settings))
    with pool:
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
        if report.problems:
            report.seconds = time.perf_counter() - started
            return report
        pairs = [(m.id, c) for m in mutants for c in report.cases]
        _say(progress, f"mutants: {len(mutants)} x {len(report.cases)} cases on {jobs} "
                       f"worker(s)")
        step = max(1, len(pairs) // 10)
        for i, outcome in enumerate(pool.imap_unordered(_run_pair, pairs, chunksize=2), 1):
            report.outcomes[outcome.mutant, outcome.case] = outcome
            if i % step == 0:
                _say(progress, f"  {i}/{len(pairs)} runs")
        _confirm_kills(report, pool, progress)
    if report.full:
        names = {c.id for c in loaded}
        for case_id in sorted(set(exemptions) - names):
            report.problems.append(f"{exemptions_path.name}: {case_id} is not a case")
    if report.full or (report.case_mode and report.all_mutants):
        for case_id in sorted(set(exemptions) & set(report.cases)):
            if report.caught(case_id):
                report.problems.append(
                    f"{exemptions_path.name}: {case_id} now catches "
                    f"{', '.join(report.caught(case_id))}; remove its exemption")
    report.problems += pin_problems(report, {c.id for c in loaded} if report.full else None)
    report.seconds = time.perf_counter() - started
    return report


def pin_problems(report: GateReport, case_ids: set[str] | None = None) -> list[str]:
    """The catalogue's pinned pairs (Mutant.breaks): every pinned case that took part must
    have killed its mutant, whatever other cases did. With `case_ids` (the full gate), a pin
    must name a case, so renaming a case cannot quietly drop it."""
    problems: list[str] = []
    for m in report.mutants:
        for case_id in m.breaks:
            outcome = report.outcomes.get((m.id, case_id))
            if case_ids is not None and case_id not in case_ids:
                problems.append(f"mutant {m.id} should break {case_id}, which is not a case")
            elif outcome is not None and not kills(outcome, m):
                how = "passed" if outcome.status == Status.PASS.value else \
                    f"ended {outcome.status} without killing it"
                problems.append(f"mutant {m.id} should break case {case_id} but {case_id} "
                                f"{how}")
    return problems


def _control(report: GateReport, outcome: Outcome) -> None:
    report.baseline[outcome.case] = outcome


def _confirm_kills(report: GateReport, pool: Any, progress: TextIO | None) -> None:
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


# output -------------------------------------------------------------------------------------

def render(report: GateReport) -> str:
    out: list[str] = []
    s = report.settings
    out.append(f"mutation gate: {len(report.mutants)} mutants x {len(report.cases)} cases, "
               f"{report.jobs} worker(s), timeout multiplier "
               f"{s.timeout_multiplier if s else '?'}")
    passed = sum(1 for o in report.baseline.values() if o.status == Status.PASS.value)
    out.append(f"reference: {passed}/{len(report.baseline)} PASS"
               + (f", {len(report.not_applicable)} NOT-APPLICABLE (not in the matrix)"
                  if report.not_applicable else ""))
    if report.outcomes:
        out += _case_view(report) if report.case_mode else _matrix(report)
    for case_id, why in report.not_applicable.items():
        out.append(f"  not run: {case_id}: {why}")
    if report.notes:
        out.append("")
        out.append(f"flaky runs ({len(report.notes)})")
        out += [f"  {n}" for n in report.notes]
    if report.problems:
        out.append("")
        out.append(f"problems ({len(report.problems)})")
        out += [f"  {p}" for p in report.problems]
    out.append("")
    out.append(_verdict(report))
    return "\n".join(out)


def _matrix(report: GateReport) -> list[str]:
    """The whole gate, or some mutants over every case: both directions of the matrix."""
    out = ["", "mutant -> cases that caught it"]
    for m in report.mutants:
        killed = report.killed_by(m)
        out.append(f"  {m.id} ({len(killed)}): {', '.join(killed) or 'SURVIVED'}")
        seen = report.noticed_by(m)
        if seen:
            out.append(f"      message differs only (not a kill): {', '.join(seen)}")
    out += ["", "case -> mutants it caught"]
    for c in report.cases:
        caught = report.caught(c)
        out.append(f"  {c} ({len(caught)}): {', '.join(caught) or '-'}")
    out += ["", f"survivors ({len(report.survivors)})"]
    out += [f"  {m.id}: {m.description}" for m in report.survivors]
    out += ["", f"cases that catch nothing ({len(report.idle_cases)})"]
    for c in report.idle_cases:
        reason = report.exemptions.get(c)
        if reason:
            out.append(f"  {c}: {reason}")
        elif report.full:
            out.append(f"  {c}: NO REASON (add a mutant it catches, or an entry in "
                       f"spec/{EXEMPTIONS.name})")
        else:
            out.append(f"  {c}: (partial run: not judged)")
    return out


def _case_view(report: GateReport) -> list[str]:
    """--case: which mutants each selected case kills, and why a case that kills none
    fails. Mutants these cases leave alive are not listed: other cases kill them."""
    out = ["", "case -> mutants it kills"]
    for c in report.cases:
        caught = report.caught(c)
        out.append(f"  {c} ({len(caught)}): {', '.join(caught) or '-'}")
        seen = report.noticed(c)
        if seen:
            out.append(f"      message differs only (not a kill): {', '.join(seen)}")
    if not report.idle_cases:
        return out
    ran = f"the {len(report.mutants)} mutant(s) run"
    if not report.all_mutants:
        ran += " (--mutant; without it the whole catalogue is tried)"
    out += ["", f"cases that kill no mutant ({len(report.idle_cases)})"]
    for c in report.idle_cases:
        reason = report.exemptions.get(c)
        if reason:
            out.append(f"  {c}: exempt: {reason}")
        else:
            out.append(f"  {c}: catches none of {ran}, so nothing shows it can fail. Add a "
                       f"mutant that breaks the behaviour it checks (harness/gates/mutants/), or, "
                       f"if no plausible bug of the reference can break it, an exemption with "
                       f"the reason in spec/{EXEMPTIONS.name}")
    return out


def _verdict(report: GateReport) -> str:
    verdict = "PASS" if report.ok else "FAIL"
    if not report.case_mode:
        return (f"mutation gate {verdict}: {len(report.mutants) - len(report.survivors)}/"
                f"{len(report.mutants)} mutants killed, {len(report.survivors)} survived, "
                f"{len(report.unexplained)} case(s) catch nothing without a reason; "
                f"{report.seconds:.1f} s")
    killers = len(report.cases) - len(report.idle_cases)
    exempt = len(report.idle_cases) - len(report.unexplained)
    return (f"mutation gate {verdict} (selected cases): {killers}/{len(report.cases)} case(s) "
            f"kill a mutant" + (f", {exempt} exempt" if exempt else "")
            + (f", {len(report.unexplained)} kill none" if report.unexplained else "")
            + f"; {len(report.survivors)} of {len(report.mutants)} mutants left to other "
            f"cases (the full gate judges them); {report.seconds:.1f} s")


def write_json(report: GateReport, path: Path) -> None:
    data: dict[str, Any] = {
        "mutants": [{"id": m.id, "description": m.description, "area": m.area,
                     "kind": m.kind, "killed_by": report.killed_by(m)}
                    for m in report.mutants],
        "cases": {c: report.caught(c) for c in report.cases},
        "survivors": [m.id for m in report.survivors],
        "idle_cases": {c: report.exemptions.get(c) for c in report.idle_cases},
        "baseline": [asdict(o) for o in report.baseline.values()],
        "outcomes": [asdict(o) for o in report.outcomes.values()],
        "problems": report.problems,
        "notes": report.notes,
        "seconds": report.seconds,
        "case_mode": report.case_mode,
        "ok": report.ok,
    }
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def main(args: Any) -> int:
    report = run_gate(mutant_ids=args.mutant, case_patterns=args.case, jobs=args.jobs,
                      timeout_multiplier=args.timeout_multiplier,
                      pending_window=args.pending_window, progress=sys.stderr)
    print(render(report))
    if args.json:
        write_json(report, Path(args.json))
    return 0 if report.ok else 1

"""`python -m sockets_conformance bench` (= `tox -e bench`): how fast the suite and the harness
are, in one table measured in one run on this machine.

It is a benchmark, not a timed test: it prints numbers and says which targets they meet,
and exits 0 either way (a busy machine must not fail a build). Each number is measured so
that it means one thing (each in its own module: suite.py, overhead.py, transfer.py;
measures.py holds the numbers, report.py renders them and judges the targets):

Suite wall time
    `pytest -q --adapter IMPL` as a subprocess, with `-n auto` and serially: what a user
    waits for, start-up and collection included. The `-n auto` runs are repeated
    (`--rounds`, default 3), the implementations taking turns, and the median counts: this
    machine slows down under sustained load, which must not count against whichever
    implementation runs last. Each implementation is first collected
    once, untimed, so that compiled bytecode and the page cache are warm; bytecode caching
    is left on (PYTHONDONTWRITEBYTECODE is removed from the subprocesses' environment),
    as in a plain `pytest` run. An implementation that is not installed is skipped, with
    the reason its adapter gives.

Harness overhead, per case and per step
    Every case runs in-process against the reference, with the adapter wrapped so that
    time spent inside its calls (call, await, batch, scope open/close, the guard report)
    is clocked, and with the peers' waits (accept, expect, expect_eof: the implementation
    or the wire is being waited for) clocked too. What is left of each case's wall time
    is the harness's own work: rendering templates, judging replies, starting and
    stopping peers, holding the closed port, bookkeeping. It is divided by the cases and
    by the steps that ran. Waiting inside an adapter call is never counted as overhead:
    for the reference that includes the implementation's own work, and the deliberate
    `pending` windows. Two more layers are measured apart: loading (YAML, schema,
    checks) per case file, and what pytest and the plugin add per case, which is the
    serial run's wall time minus its fixed cost (the same run with every case deselected:
    start-up, collection, shut-down) minus the time the cases themselves took (from the
    run's `--results-jsonl`).

Growth with the number of cases
    The reference suite with `-n auto --repeat 10` (every case ten times, under new ids)
    against the 1x run; the fixed cost (the `-n auto` run with every case deselected: the
    workers start and collect, then run nothing; `--collect-only` would not start them)
    is taken off both before the per-case times are compared, so a constant start-up
    does not pass for sub-linear growth.

Throughput and connect latency
    64 MiB each way, and connect() until `opened` fulfils, through the same adapter
    operations the suite uses: bench_cases/*.yaml (in this package) run by the runner
    against each implementation (the upload is one write, the download one readBytes round
    trip), the steps' own durations added up; the median of several runs, the bytes
    generated before the clock starts. Next to them a raw asyncio loopback socket, the
    physical baseline: a Protocol that counts bytes on each side, and
    `loop.create_connection` for the latency. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sockets_conformance.gates.bench.machine import load_average, versions, wait_until_idle
from sockets_conformance.gates.bench.measures import MiB, Overhead, Report, SuiteRun, Transfer
from sockets_conformance.gates.bench.overhead import measure_overhead, pytest_per_case
from sockets_conformance.gates.bench.report import linearity, render, targets
from sockets_conformance.gates.bench.suite import measure_suite, pytest_wall
from sockets_conformance.gates.bench.transfer import BENCH_CASES, measure_raw, measure_transfers
from sockets_conformance.running.runner import Settings

__all__ = ["BENCH_CASES", "IMPLEMENTATIONS", "MiB", "Overhead", "Report", "SuiteRun",
           "Transfer", "linearity", "main", "measure_overhead", "measure_raw",
           "measure_transfers", "pytest_wall", "render", "run", "targets"]

IMPLEMENTATIONS = ("reference", "node", "workerd")


def run(implementations: list[str], *, size: int, runs: int, samples: int, repeat: int,
        timeout_multiplier: float, rounds: int = 3, overhead: bool = True,
        log: Any = sys.stderr) -> Report:
    """Every measurement, in an order that keeps them apart: the suite's subprocesses
    first, then the in-process overhead, then the transfers and the raw baseline."""
    report = Report(cores=os.cpu_count() or 1, load_before=load_average(), size=size,
                    versions=versions())

    def say(text: str) -> None:
        print(f"[bench] {text}", file=log, flush=True)

    measure_suite(report, implementations, rounds=rounds, repeat=repeat,
                  timeout_multiplier=timeout_multiplier, say=say)
    if overhead:
        report.overhead, _ = measure_overhead(
            settings=Settings(timeout_multiplier=timeout_multiplier))
        report.overhead.pytest_per_case = pytest_per_case(report, report.overhead.cases)
        say(f"overhead: {report.overhead.harness / report.overhead.cases * 1000:.2f} ms "
            f"a case")
    for impl in implementations:
        got_t = measure_transfers(impl, size, runs, samples,
                                  Settings(timeout_multiplier=timeout_multiplier))
        say(f"{impl} transfers: up {got_t.upload}, down {got_t.download}, "
            f"opened {got_t.opened} {got_t.note}")
        report.transfers.append(got_t)
    report.raw = measure_raw(size, runs, samples)
    report.load_after = load_average()
    return report


def main(args: argparse.Namespace) -> int:
    """The `bench` command: print the table, and write the JSON if asked; always 0."""
    if args.wait_idle:
        wait_until_idle(args.idle_load, args.wait_idle)
    report = run(args.impl or list(IMPLEMENTATIONS), size=args.size, runs=args.runs,
                 samples=args.samples, repeat=args.repeat, rounds=args.rounds,
                 timeout_multiplier=args.timeout_multiplier)
    print(render(report))
    if args.json:
        data = asdict(report)
        data["targets"] = [{"target": t, "measured": m, "met": met}
                           for t, m, met in targets(report)]
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0

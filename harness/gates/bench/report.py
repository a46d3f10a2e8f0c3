"""The benchmark's one Markdown table, and the targets it is held to (issues 9 and 14).

Rendering only reads a Report, so a report loaded from JSON or built by hand (as the
tests do) renders the same as one just measured.
"""

from __future__ import annotations

from sockets_conformance.gates.bench.measures import MiB, Report, count_cases, find_run

# The targets of issue 9; issue 14 holds every implementation, not only workerd, to the ratio.
TARGET_REFERENCE_WALL = 5.0     # s, the suite against the reference with -n auto
TARGET_RATIO = 2.0              # an implementation's -n auto wall time / the reference's
TARGET_LINEAR_SLACK = 0.2       # per-case time at 10x within 20 % of the 1x one
TARGET_THROUGHPUT_RATIO = 0.5   # reference throughput / raw asyncio, each direction


def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.2f} ms"


def _rate(size: int, seconds: float | None) -> str:
    return "–" if not seconds else f"{size / MiB / seconds:.0f} MiB/s"


def _ratio(value: float | None, base: float | None, invert: bool = False) -> str:
    if not value or not base:
        return "–"
    return f"{(base / value if invert else value / base):.2f}×"


def targets(report: Report) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target; met None: not measured."""
    out: list[tuple[str, str, bool | None]] = []
    ref = find_run(report, "reference", "-n auto")
    ref_s = ref.seconds if ref else None
    out.append((f"reference suite ≤ {TARGET_REFERENCE_WALL:.0f} s with -n auto "
                f"({report.cores} cores)", _fmt_s(ref_s),
                None if ref_s is None else ref_s <= TARGET_REFERENCE_WALL))
    for impl in dict.fromkeys(r.implementation for r in report.suite):
        if impl == "reference":
            continue
        run = find_run(report, impl, "-n auto")
        seconds = run.seconds if run else None
        ratio = seconds / ref_s if seconds and ref_s else None
        out.append((f"{impl} ≤ {TARGET_RATIO:.0f}× the reference (-n auto)",
                    "–" if ratio is None else f"{ratio:.2f}×",
                    None if ratio is None else ratio <= TARGET_RATIO))
    growth = linearity(report)
    out.append((f"time linear in case count (per-case time at 10× within "
                f"{TARGET_LINEAR_SLACK:.0%} of 1×)",
                "–" if growth is None else f"{growth:.2f}× per case",
                None if growth is None else growth <= 1 + TARGET_LINEAR_SLACK))
    ref_t = next((t for t in report.transfers if t.implementation == "reference"), None)
    raw = report.raw
    for direction in ("upload", "download"):
        mine = getattr(ref_t, direction) if ref_t else None
        base = getattr(raw, direction) if raw else None
        share = base / mine if mine and base else None
        out.append((f"reference {direction} ≥ {TARGET_THROUGHPUT_RATIO}× raw asyncio",
                    "–" if share is None else f"{share:.2f}×",
                    None if share is None else share >= TARGET_THROUGHPUT_RATIO))
    return out


def linearity(report: Report) -> float | None:
    """Per-case time at 10× over per-case time at 1×, the fixed cost taken off both."""
    one = find_run(report, "reference", "-n auto")
    ten = next((r for r in report.suite if r.implementation == "reference"
                and "--repeat" in r.mode), None)
    fixed = report.collect_seconds.get("reference -n auto")
    if not (one and ten and one.seconds and ten.seconds and fixed is not None):
        return None
    times = int(ten.mode.split("--repeat")[1].split()[0])
    per_one = one.seconds - fixed
    per_ten = (ten.seconds - fixed) / times
    return per_ten / per_one if per_one > 0 else None



def _header(report: Report) -> list[str]:
    lines = [f"# sockets-conformance benchmark — {report.cores} cores, load average "
             f"{report.load_before[0]:.2f} before / {report.load_after[0]:.2f} after "
             f"(1 min)", ""]
    if report.versions:
        lines += ["versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
                  ""]
    return lines


def _suite_section(report: Report) -> list[str]:
    lines = ["## Suite wall time", "",
             "| implementation | -n auto (median) | -n auto, each round | serial | "
             "-n auto vs reference | result (-n auto) |",
             "| --- | --- | --- | --- | --- | --- |"]
    ref = find_run(report, "reference", "-n auto")
    for impl in dict.fromkeys(r.implementation for r in report.suite):
        par, ser = find_run(report, impl, "-n auto"), find_run(report, impl, "serial")
        if par is not None and par.seconds is None:
            lines.append(f"| {impl} | – | – | – | – | {par.outcome} |")
            continue
        each = ", ".join(f"{t:.2f}" for t in par.samples) if par and par.samples else "–"
        lines.append(f"| {impl} | {_fmt_s(par.seconds if par else None)} | {each} | "
                     f"{_fmt_s(ser.seconds if ser else None)} | "
                     f"{_ratio(par.seconds if par else None, ref.seconds if ref else None)}"
                     f" | {par.outcome if par else '–'} |")
    lines.append("")
    return lines


def _growth_section(report: Report) -> list[str]:
    one = find_run(report, "reference", "-n auto")
    ten = next((r for r in report.suite if "--repeat" in r.mode), None)
    if not (one and ten and one.seconds and ten.seconds):
        return []
    fixed = report.collect_seconds.get("reference -n auto", 0.0)
    growth = linearity(report)
    lines = ["## Growth with the number of cases (reference, -n auto)", "",
             "| run | wall | wall − fixed start-up | per case |", "| --- | --- | --- | --- |",
             f"| fixed cost (every case deselected) | {_fmt_s(fixed)} | – | – |"]
    n1 = count_cases(one.outcome)
    n10 = count_cases(ten.outcome)
    for run, n in ((one, n1), (ten, n10)):
        assert run.seconds is not None
        lines.append(f"| {run.mode} ({n} cases) | {_fmt_s(run.seconds)} | "
                     f"{_fmt_s(run.seconds - fixed)} | "
                     f"{_ms((run.seconds - fixed) / n) if n else '–'} |")
    times = n10 // n1 if n1 else 0
    marginal = (ten.seconds - one.seconds) / (n10 - n1) if n10 > n1 else None
    lines += ["", f"{times}× the cases took {ten.seconds / one.seconds:.2f}× the wall "
              f"time; per case, {growth:.2f}× the 1× cost; each case added costs "
              f"{_ms(marginal)}." if growth else "", ""]
    return lines


def _overhead_section(report: Report) -> list[str]:
    o = report.overhead
    if o is None:
        return []
    return ["## Harness overhead (reference, in-process and serial pytest)", "",
            "| layer | total | per case | per step |", "| --- | --- | --- | --- |",
            f"| whole cases ({o.cases} cases, {o.steps} steps) | {_fmt_s(o.wall)} | "
            f"{_ms(o.wall / o.cases)} | {_ms(o.wall / o.steps)} |",
            f"| inside adapter calls (implementation, pending windows) | "
            f"{_fmt_s(o.adapter)} | {_ms(o.adapter / o.cases)} | "
            f"{_ms(o.adapter / o.steps)} |",
            f"| peers waiting for the wire | {_fmt_s(o.peer_waits)} | "
            f"{_ms(o.peer_waits / o.cases)} | {_ms(o.peer_waits / o.steps)} |",
            f"| **runner's own work** (the rest) | {_fmt_s(o.harness)} | "
            f"**{_ms(o.harness / o.cases)}** | **{_ms(o.harness / o.steps)}** |",
            f"| loading a case file (YAML, schema, checks) | – | "
            f"{_ms(o.load_per_case)} | – |",
            f"| pytest + plugin per case (serial run − fixed cost − cases) | – | "
            f"{_ms(o.pytest_per_case)} | – |", ""]


def _transfer_section(report: Report) -> list[str]:
    if not report.transfers:
        return []
    raw = report.raw
    size = report.size
    lines = [f"## Throughput ({size // MiB} MiB each way) and connect latency", "",
             "| implementation | upload | vs raw | download | vs raw | connect → opened "
             "(median) | vs raw | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in [*report.transfers, *([raw] if raw else [])]:
        lines.append(
            f"| {t.implementation} | {_rate(size, t.upload)} | "
            f"{_ratio(t.upload, raw.upload if raw else None, invert=True)} | "
            f"{_rate(size, t.download)} | "
            f"{_ratio(t.download, raw.download if raw else None, invert=True)} | "
            f"{_ms(t.opened)} | {_ratio(t.opened, raw.opened if raw else None)} | "
            f"{t.note} |")
    lines += ["", "vs raw: throughput as a share of the raw socket's (1.00× = as fast); "
              "latency as a multiple of the raw socket's.", ""]
    return lines


def _targets_section(report: Report) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for target, measured, met in targets(report):
        lines.append(f"| {target} | {measured} | "
                     f"{'not measured' if met is None else 'yes' if met else 'NO'} |")
    return lines


def render(report: Report) -> str:
    """The whole report as Markdown; sections with nothing measured are left out."""
    lines = [*_header(report), *_suite_section(report), *_growth_section(report),
             *_overhead_section(report), *_transfer_section(report),
             *_targets_section(report)]
    return "\n".join(lines) + "\n"

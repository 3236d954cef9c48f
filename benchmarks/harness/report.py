"""Medians, ratios and the Markdown document (docs/benchmarks.md)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .contenders import (
    HATCH_PEX,
    HATCH_PEX_COMPILED,
    HATCH_PEX_ONE_VERSION,
    PEX,
    SHIV,
    SYSTEM_SITE_VENV,
    VENV,
)
from .measure import VARIANT_LABELS, VARIANTS
from .results import Outcome, Results

BARE_PYTHON = "python"
BARE_VENV_PYTHON = "venv-python"
REFERENCE_LABELS = {
    BARE_PYTHON: "reference: `python3.11 -c pass`",
    BARE_VENV_PYTHON: "reference: venv's `python -c pass`",
}
WARM_TARGETS = ((VENV, 1.0), (SYSTEM_SITE_VENV, 0.95))
TIMES = "\u00d7"  # the multiplication sign of "1.20x"
MIB = 2**20
# The large app's goals (issue 9): hatch-pex's first start at most half shiv's; its warm start no
# slower than the plain venv's, with at most 16 MiB more anonymous memory; its first start at most
# 64 MiB more anonymous memory than its own warm start; its build a tenth of the PEX CLI's.
LARGE_FIRST_START_VS_SHIV = 0.5
LARGE_WARM_START_VS_VENV = 1.0
LARGE_WARM_MEMORY_MARGIN = 16 * MIB
LARGE_FIRST_MEMORY_MARGIN = 64 * MIB
LARGE_BUILD_VS_PEX = 0.1
LARGE_SIZE_TOLERANCE = 0.03
# The mid-size app's goal: hatch-pex's warm start no slower than the plain venv's.
MID_WARM_START_VS_VENV = 1.0


@dataclass(frozen=True)
class Column:
    """A ratio column: the contender's median divided by `baseline`'s."""

    baseline: str
    title: str


def median(samples: Sequence[float] | None) -> float | None:
    return statistics.median(samples) if samples else None


def format_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    milliseconds = seconds * 1000
    return f"{milliseconds:.0f} ms" if milliseconds >= 100 else f"{milliseconds:.1f} ms"


def format_seconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def format_megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def format_mebibytes(size: float | None) -> str:
    return "-" if size is None else f"{size / MIB:.0f} MiB"


def measured_variants(results: Results) -> list[str]:
    """The variants the run measured, in the usual order (older results: all of them)."""
    chosen = results.meta.get("variants") or list(VARIANTS)
    return [variant for variant in VARIANTS if variant in chosen]


def format_ratio(value: float | None, baseline: float | None) -> str:
    return "-" if value is None or not baseline else f"{value / baseline:.2f}{TIMES}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def missing_row(outcome: Outcome, width: int) -> list[str]:
    return [outcome.label, outcome.status, *["-"] * (width - 2)]


def start_rows(
    samples: dict[str, dict[str, list[float]]],
    keys_and_labels: Sequence[tuple[str, str]],
    columns: Sequence[Column],
    variants: Sequence[str],
) -> list[list[str]]:
    rows = []
    for key, label in keys_and_labels:
        row = [label]
        for variant in variants:
            by_key = samples.get(variant, {})
            value = median(by_key.get(key))
            row.append(format_ms(value))
            row += [format_ratio(value, median(by_key.get(column.baseline))) for column in columns]
        rows.append(row)
    return rows


def start_table(
    results: Results,
    samples: dict[str, dict[str, list[float]]],
    columns: Sequence[Column],
    with_references: bool,
) -> list[str]:
    variants = measured_variants(results)
    header = ["contender"]
    for variant in variants:
        header += [f"{VARIANT_LABELS[variant]}: median", *(column.title for column in columns)]
    measured = [(outcome.key, outcome.label) for outcome in results.outcomes if outcome.measured]
    if with_references:
        measured += [
            (key, label) for key, label in REFERENCE_LABELS.items() if key in samples.get("default", {})
        ]
    rows = start_rows(samples, measured, columns, variants)
    rows += [missing_row(outcome, len(header)) for outcome in results.outcomes if not outcome.measured]
    return table(header, rows)


def warm_table(results: Results) -> list[str]:
    columns = [Column(VENV, f"{TIMES} venv"), Column(SYSTEM_SITE_VENV, f"{TIMES} system-site venv")]
    return start_table(results, results.warm, columns, with_references=True)


def first_start_table(results: Results) -> list[str]:
    columns = [Column(VENV, f"{TIMES} venv"), Column(SHIV, f"{TIMES} shiv")]
    return start_table(results, results.first, columns, with_references=False)


def build_table(results: Results) -> list[str]:
    header = ["contender", "cold build", "warm rebuild", "size", f"{TIMES} shiv size"]
    shiv = results.outcome(SHIV)
    shiv_size = shiv.size_bytes if shiv else None
    rows = []
    for outcome in results.outcomes:
        if not outcome.measured:
            rows.append(missing_row(outcome, len(header)))
            continue
        rows.append(
            [
                outcome.label,
                format_seconds(median(results.build_cold.get(outcome.key))),
                format_seconds(median(results.build_warm.get(outcome.key))),
                format_megabytes(outcome.size_bytes),
                format_ratio(outcome.size_bytes, shiv_size),
            ]
        )
    return table(header, rows)


def verdict(value: float | None, limit: float | None, factor: float = 1.0) -> str:
    if value is None or not limit:
        return "-"
    ratio = value / limit
    return f"{ratio:.2f}{TIMES} ({'met' if ratio <= factor else 'missed'})"


def target_rows(results: Results) -> list[list[str]]:
    def for_variants(
        samples: dict[str, dict[str, list[float]]], baseline: str, factor: float, ours: str = HATCH_PEX
    ) -> list[str]:
        medians = [samples.get(variant, {}) for variant in measured_variants(results)]
        return [verdict(median(by_key.get(ours)), median(by_key.get(baseline)), factor) for by_key in medians]

    rows = [
        [f"warm start ≤ {factor:.2f}{TIMES} {label}", *for_variants(results.warm, key, factor)]
        for (key, factor), label in zip(WARM_TARGETS, ("plain venv", "system-site venv"))
    ]
    rows.append(["first start ≤ shiv's", *for_variants(results.first, SHIV, 1.0)])
    if results.outcome(HATCH_PEX_COMPILED) is not None:
        compiled = for_variants(results.first, SHIV, 1.0, HATCH_PEX_COMPILED)
        rows.append(["first start ≤ shiv's, `compile-bytecode`", *compiled])
    width = len(measured_variants(results))
    ours, shiv = results.outcome(HATCH_PEX), results.outcome(SHIV)
    size = size_verdict(ours.size_bytes if ours else None, shiv.size_bytes if shiv else None)
    rows.append(["file size ≤ shiv's", *[size] * width])
    # Serving every Python the app admits costs at most half as much again as serving one.
    for kind, samples in (("warm rebuild", results.build_warm), ("cold build", results.build_cold)):
        every = verdict(median(samples.get(HATCH_PEX)), median(samples.get(HATCH_PEX_ONE_VERSION)), 1.5)
        rows.append([f"{kind}, every Python ≤ 1.50{TIMES} one Python", *[every] * width])
    return rows


def size_verdict(ours: int | None, shiv: int | None) -> str:
    """Sizes are exact, so the verdict shows the bytes: a ratio would round 1.0004 to 1.00."""
    if ours is None or not shiv:
        return "-"
    return f"{ours / shiv:.3f}{TIMES} ({'met' if ours <= shiv else 'missed'}: {ours:,} vs {shiv:,} bytes)"


def targets_table(results: Results) -> list[str]:
    header = ["hatch-pex target", *(VARIANT_LABELS[variant] for variant in measured_variants(results))]
    ours = results.outcome(HATCH_PEX)
    if ours is not None and not ours.measured:
        return [f"hatch-pex was not measured: {ours.status} (see below)."]
    return table(header, target_rows(results))


def revision_facts(results: Results) -> dict[str, str] | None:
    """The `--baseline` revision of the run (its contender's key, the commit), or None."""
    facts: dict[str, str] | None = results.meta.get("baseline")
    return facts


def middle_half(samples: Sequence[float] | None, formatter: Callable[[float | None], str]) -> str:
    """The quartiles of a contender's runs: how far apart its own runs are, to judge a ratio by."""
    if not samples or len(samples) < 2:
        return "-"
    low, _, high = statistics.quantiles(samples, n=4, method="inclusive")
    return f"{formatter(low)} to {formatter(high)}"


def comparison_row(
    measure: str,
    before: Sequence[float] | None,
    after: Sequence[float] | None,
    formatter: Callable[[float | None], str],
) -> list[str]:
    before_median, after_median = median(before), median(after)
    return [
        measure,
        formatter(before_median),
        formatter(after_median),
        format_ratio(after_median, before_median),
        middle_half(before, formatter),
        middle_half(after, formatter),
    ]


def comparison_rows(results: Results, before_key: str) -> list[list[str]]:
    rows = []
    for measure, samples in (("warm start", results.warm), ("first start", results.first)):
        for variant in measured_variants(results):
            by_key = samples.get(variant, {})
            title = f"{measure}, {VARIANT_LABELS[variant]}"
            rows.append(comparison_row(title, by_key.get(before_key), by_key.get(HATCH_PEX), format_ms))
    for measure, builds in (("cold build", results.build_cold), ("warm rebuild", results.build_warm)):
        rows.append(comparison_row(measure, builds.get(before_key), builds.get(HATCH_PEX), format_seconds))
    before, after = results.outcome(before_key), results.outcome(HATCH_PEX)
    rows.append(
        size_comparison_row(before.size_bytes if before else None, after.size_bytes if after else None)
    )
    return rows


def size_comparison_row(before: int | None, after: int | None) -> list[str]:
    """Sizes are exact: in bytes, the ratio to three places (a change of a few bytes still shows)."""

    def in_bytes(size: int | None) -> str:
        return "-" if size is None else f"{size:,} bytes"

    ratio = "-" if after is None or not before else f"{after / before:.3f}{TIMES}"
    return ["size", in_bytes(before), in_bytes(after), ratio, "-", "-"]


def before_after_table(results: Results, facts: dict[str, str]) -> list[str]:
    """hatch-pex@REV (the plugin at the `--baseline` revision) against hatch-pex (the working tree)."""
    for key in (facts["key"], HATCH_PEX):
        outcome = results.outcome(key)
        if outcome is not None and not outcome.measured:
            return [f"{key} was not measured: {outcome.status} (see below)."]
    short = facts["short"]
    header = [
        f"before ({short}) vs after",
        f"before: hatch-pex@{short}",
        "after: hatch-pex",
        "after ÷ before",
        "before: middle half",
        "after: middle half",
    ]
    return table(header, comparison_rows(results, facts["key"]))


def before_after_section(results: Results) -> list[str]:
    facts = revision_facts(results)
    if facts is None:
        return []
    after = results.meta.get("revision", "the working tree")
    return [
        f"## Before ({facts['short']}) vs after ({after}): the same build, plugin from either revision",
        "",
        *before_after_table(results, facts),
        "",
    ]


def of_rounds(count: object) -> str:
    return "median of 1 round" if count == 1 else f"median of {count} rounds"


def tables(results: Results) -> list[str]:
    """The tables alone, as printed on the console."""
    rounds = results.meta.get("rounds", {})
    return [
        "## Targets (hatch-pex's median ÷ the baseline's)",
        "",
        *targets_table(results),
        "",
        *before_after_section(results),
        f"## Warm start (cache populated; {of_rounds(rounds.get('warm'))})",
        "",
        *warm_table(results),
        "",
        f"## First start (empty PEX_ROOT / SHIV_ROOT; {of_rounds(rounds.get('cold'))})",
        "",
        *first_start_table(results),
        "",
        *timeline_section(results),
        f"## Build time ({of_rounds(rounds.get('build'))}) and size",
        "",
        *build_table(results),
        "",
    ]


# A first start's timeline, in the order its parts happen: (letter of the bar, what it is).
TIMELINE_WIDTH = 40
TIMELINE_PARTS = (
    ("i", "interpreter start and the archive's stub, up to the runtime's boot()"),
    ("x", "extracting the wheels"),
    ("r", "the rest of the runtime up to ready (interpreter check, site directory, warm record)"),
    ("w", "the app waiting for wheels still being extracted beside it"),
    ("c", "compiling the app's and its dependencies' sources and writing their .pyc files"),
    ("e", "executing their modules (as a warm start does, from .pyc) and the app itself"),
)
BESIDE_THRESHOLD = 0.5  # the median of `first_beside` (1.0 or 0.0 per run): most runs extracted beside


@dataclass(frozen=True)
class FirstStartParts:
    """A first start taken apart (seconds, from the medians of a key's timeline runs, see measure.py's
    `Timeline`): the parts add up to `total`, the median PEX_VERBOSE=1 first start. When the wheels
    were extracted `beside` the application, the extraction is no part of that sum: it ran in a process
    of its own while the runtime got ready and the app ran, and what it cost the start is in
    `runtime_rest` (waits before ready) and `waiting` (the app's waits for it)."""

    total: float
    interpreter: float  # fork to boot(): the `ready` line's arrival less its `ready in` figure
    extraction: float  # its wall time, whether before ready or beside the app
    runtime_rest: float  # `ready in` less the extraction (beside: all of it)
    waiting: float  # beside: the waits for the extraction after ready (imports, metadata, the exit)
    compiling: float  # the first start's part after ready less the warm start's and the waiting
    executing: float  # the warm start's part after ready: its modules come from .pyc files
    beside: bool

    @property
    def extraction_before_ready(self) -> float:
        """The extraction as a part of the start: none when it ran beside the app."""
        return 0.0 if self.beside else self.extraction

    @property
    def runtime(self) -> float:
        return self.extraction_before_ready + self.runtime_rest

    @property
    def app(self) -> float:
        return self.waiting + self.compiling + self.executing

    def in_order(self) -> tuple[float, ...]:
        """The parts in TIMELINE_PARTS' order."""
        return (
            self.interpreter,
            self.extraction_before_ready,
            self.runtime_rest,
            self.waiting,
            self.compiling,
            self.executing,
        )


def first_start_parts(runs: Sequence[dict[str, float]]) -> FirstStartParts | None:
    """The median of each measured figure, then the parts from those: they add up to the median first
    start, which a median of each part's own per-run values would not."""
    if not runs:
        return None

    def middle(name: str) -> float:
        return statistics.median(run[name] for run in runs)

    def middle_or_zero(name: str) -> float:
        """A figure of the extraction beside the app, 0 where a run lacks it: results of a harness
        from before it, whose runtimes never extracted beside the app."""
        return statistics.median(run.get(name, 0.0) for run in runs)

    first, ready_at, ready_in, extraction = (
        middle(name) for name in ("first", "first_ready_at", "first_ready_in", "extraction")
    )
    executing = middle("warm") - middle("warm_ready_at")
    beside = middle_or_zero("first_beside") >= BESIDE_THRESHOLD
    # Waits before ready are within `ready in`: only the rest is the app's (each run's waits before
    # ready are at most its waits in all, so the difference of the medians is not negative).
    waiting = middle_or_zero("first_waited") - middle_or_zero("first_waited_before_ready") if beside else 0.0
    return FirstStartParts(
        total=first,
        interpreter=ready_at - ready_in,
        extraction=extraction,
        runtime_rest=ready_in if beside else ready_in - extraction,
        waiting=waiting,
        compiling=first - ready_at - executing - waiting,
        executing=executing,
        beside=beside,
    )


def timeline_bar(parts: FirstStartParts, longest: float) -> str:
    """The parts as letters (TIMELINE_PARTS), the bar's length in proportion to `longest` (the longest
    first start of the table) and each part's share of it by largest remainders; a negative part (noise:
    the warm start's app part took longer than the first's) counts as 0. An extraction beside the app
    has no letters: it overlapped the other parts, and the app's waits for it are its `w`."""
    values = [max(value, 0.0) for value in parts.in_order()]
    width = round(TIMELINE_WIDTH * sum(values) / longest) if longest > 0 else 0
    if not width or not sum(values):
        return "-"
    exact = [value * width / sum(values) for value in values]
    counts = [int(share) for share in exact]
    by_remainder = sorted(range(len(exact)), key=lambda index: exact[index] - counts[index], reverse=True)
    for index in by_remainder[: width - sum(counts)]:
        counts[index] += 1
    letters = "".join(letter * count for (letter, _), count in zip(TIMELINE_PARTS, counts))
    return f"`{letters}`"


def share(part: float, whole: float) -> str:
    return f"{format_ms(part)} ({100 * part / whole:.0f}%)" if whole > 0 else format_ms(part)


def extraction_cell(parts: FirstStartParts) -> str:
    """Before ready: its share of the start. Beside the app: its wall time alone, so marked (it
    overlapped the other parts, a share of the start would be none of them)."""
    if parts.beside:
        return f"{format_ms(parts.extraction)} (beside the app)"
    return share(parts.extraction, parts.total)


def timeline_rows(results: Results) -> list[tuple[Outcome, str, FirstStartParts]]:
    """(contender, variant, its first start taken apart) for each hatch-pex file with timelines."""
    rows = []
    for outcome in results.outcomes:
        for variant in measured_variants(results):
            parts = first_start_parts(results.timeline.get(variant, {}).get(outcome.key, []))
            if parts is not None:
                rows.append((outcome, variant, parts))
    return rows


def timeline_table(results: Results, rows: Sequence[tuple[Outcome, str, FirstStartParts]]) -> list[str]:
    """One row per hatch-pex file and variant: the headline first start, the PEX_VERBOSE=1 one and its
    parts (the runtime's share, the app's; within the app, compiling against executing), and the bar.
    The app's waits for an extraction beside it get a column when any row extracted so."""
    variants = {variant for _, variant, _ in rows}
    beside = any(parts.beside for _, _, parts in rows)
    header = ["hatch-pex file"]
    header += ["variant"] if len(variants) > 1 else []
    header += [
        "first start",
        "PEX_VERBOSE=1 first start",
        "interpreter and stub (i)",
        "runtime to ready",
        "of which extraction (x)",
        "app after ready",
    ]
    header += ["app waiting for extraction (w)"] if beside else []
    header += [
        "compiling + writing .pyc (c), share of app",
        "executing (e), share of app",
        "timeline",
    ]
    longest = max(parts.total for _, _, parts in rows)
    lines = []
    for outcome, variant, parts in rows:
        row = [outcome.label] + ([VARIANT_LABELS[variant]] if len(variants) > 1 else [])
        row += [
            format_ms(median(results.first.get(variant, {}).get(outcome.key))),
            format_ms(parts.total),
            share(parts.interpreter, parts.total),
            share(parts.runtime, parts.total),
            extraction_cell(parts),
            share(parts.app, parts.total),
        ]
        row += [share(parts.waiting, parts.total)] if beside else []
        row += [
            share(parts.compiling, parts.app),
            share(parts.executing, parts.app),
            timeline_bar(parts, longest),
        ]
        lines.append(row)
    return table(header, lines)


def timeline_legend(beside: bool) -> str:
    """The bar's letters; with `beside` (a row extracted beside the app), how such a row reads."""
    parts = "; ".join(f"`{letter}` {meaning}" for letter, meaning in TIMELINE_PARTS)
    legend = (
        "Shares are of the PEX_VERBOSE=1 first start, the last two of the app's part; each bar is drawn "
        f"to the scale of the longest first start of the table, {TIMELINE_WIDTH} characters: {parts}."
    )
    if beside:
        legend += (
            " An extraction marked (beside the app) ran in a process of its own while the runtime got"
            " ready and the app ran: it overlapped the other parts, so its wall time has no `x` in the"
            " bar; the runtime's waits for it before ready are in `r`, the app's (at an import, a"
            " metadata look-up, the exit) are `w`, whose share is of the whole start."
        )
    return legend


def timeline_section(results: Results, prefix: str = "") -> list[str]:
    """Where a hatch-pex file's first start goes (extra PEX_VERBOSE=1 runs, see the method)."""
    rounds = of_rounds(results.meta.get("rounds", {}).get("cold"))
    title = f"## {prefix}First start taken apart (hatch-pex; extra PEX_VERBOSE=1 runs, {rounds})"
    rows = timeline_rows(results)
    if not rows:
        # Results of a harness before the timelines, or only a --baseline runtime that does not log `ready`.
        return [title, "", "Not measured: these results hold no hatch-pex first-start timeline.", ""]
    beside = any(parts.beside for _, _, parts in rows)
    return [title, "", *timeline_table(results, rows), "", timeline_legend(beside), ""]


def memory_samples(results: Results, measure: str, kind: str) -> dict[str, dict[str, list[float]]]:
    """Bytes of the large app's starts ("warm", "first"): kind "anonymous" or "rss", as Samples."""
    samples: dict[str, dict[str, list[float]]] = results.memory.get(measure, {}).get(kind, {})
    return samples


def build_memory(results: Results, kind: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = results.memory.get("build", {}).get(kind, {})
    return samples


def memory_verdict(value: float | None, baseline: float | None, margin: int) -> str:
    """`value` against `baseline` plus `margin` (bytes): the ratio, the verdict and the figures."""
    if value is None or baseline is None:
        return "-"
    limit = baseline + margin
    ratio = value / limit
    outcome = "met" if value <= limit else "missed"
    return f"{ratio:.2f}{TIMES} ({outcome}: {format_mebibytes(value)} vs {format_mebibytes(limit)})"


def previous_size(results: Results, size: int | None) -> str:
    """The hatch-pex file's size, and against the previous run's when results-large.json had one."""
    if size is None:
        return "-"
    text = f"{size:,} bytes"
    previous = results.meta.get("previous_hatch_pex")
    if previous and previous.get("size_bytes"):
        before = previous["size_bytes"]
        ratio = size / before
        within = "within" if abs(ratio - 1) <= LARGE_SIZE_TOLERANCE else "not within"
        text += (
            f"; previous run ({previous.get('revision')}, {previous.get('date')}): {before:,} bytes, "
            f"{ratio:.3f}{TIMES} ({within} 3%)"
        )
    return text


def large_target_rows(results: Results) -> list[list[str]]:
    variants = measured_variants(results)

    def times(
        samples: dict[str, dict[str, list[float]]], baseline: str, factor: float, ours: str = HATCH_PEX
    ) -> list[str]:
        return [
            verdict(
                median(samples.get(variant, {}).get(ours)),
                median(samples.get(variant, {}).get(baseline)),
                factor,
            )
            for variant in variants
        ]

    def memory(
        value_samples: dict[str, dict[str, list[float]]],
        baseline_samples: dict[str, dict[str, list[float]]],
        baseline: str,
        margin: int,
    ) -> list[str]:
        return [
            memory_verdict(
                median(value_samples.get(variant, {}).get(HATCH_PEX)),
                median(baseline_samples.get(variant, {}).get(baseline)),
                margin,
            )
            for variant in variants
        ]

    warm_anonymous = memory_samples(results, "warm", "anonymous")
    first_anonymous = memory_samples(results, "first", "anonymous")
    build = verdict(
        median(results.build_warm.get(HATCH_PEX)), median(results.build_warm.get(PEX)), LARGE_BUILD_VS_PEX
    )
    ours = results.outcome(HATCH_PEX)
    size = previous_size(results, ours.size_bytes if ours else None)
    compiled = (
        [
            [
                f"first start ≤ {LARGE_FIRST_START_VS_SHIV:.2f}{TIMES} shiv's, `compile-bytecode = true`",
                *times(results.first, SHIV, LARGE_FIRST_START_VS_SHIV, HATCH_PEX_COMPILED),
            ]
        ]
        if results.outcome(HATCH_PEX_COMPILED) is not None
        else []
    )
    return [
        [
            f"first start ≤ {LARGE_FIRST_START_VS_SHIV:.2f}{TIMES} shiv's",
            *times(results.first, SHIV, LARGE_FIRST_START_VS_SHIV),
        ],
        *compiled,
        [
            f"warm start ≤ {LARGE_WARM_START_VS_VENV:.2f}{TIMES} plain venv's",
            *times(results.warm, VENV, LARGE_WARM_START_VS_VENV),
        ],
        [
            f"warm-start anonymous memory ≤ plain venv's + {LARGE_WARM_MEMORY_MARGIN // MIB} MiB",
            *memory(warm_anonymous, warm_anonymous, VENV, LARGE_WARM_MEMORY_MARGIN),
        ],
        [
            f"first-start anonymous memory ≤ its own warm start's + {LARGE_FIRST_MEMORY_MARGIN // MIB} MiB",
            *memory(first_anonymous, warm_anonymous, HATCH_PEX, LARGE_FIRST_MEMORY_MARGIN),
        ],
        [
            f"build (warm caches) ≤ {LARGE_BUILD_VS_PEX:.2f}{TIMES} PEX CLI's (default)",
            *[build] * len(variants),
        ],
        ["size (within 3% of the previous hatch-pex build)", *[size] * len(variants)],
    ]


def large_targets_table(results: Results) -> list[str]:
    ours = results.outcome(HATCH_PEX)
    if ours is not None and not ours.measured:
        return [f"hatch-pex was not measured: {ours.status} (see below)."]
    header = ["hatch-pex target", *(VARIANT_LABELS[variant] for variant in measured_variants(results))]
    return table(header, large_target_rows(results))


def memory_start_table(results: Results, measure: str, columns: Sequence[Column]) -> list[str]:
    """Per variant: the median time and its ratio to each of `columns`' baselines, the median of each
    start's peak anonymous memory and its ratio to the first column's baseline, and the median peak RSS
    (the mid-size and large apps, whose starts' memory is measured)."""
    seconds = results.warm if measure == "warm" else results.first
    anonymous, rss = memory_samples(results, measure, "anonymous"), memory_samples(results, measure, "rss")
    variants = measured_variants(results)
    header = ["contender"]
    for variant in variants:
        prefix = f"{VARIANT_LABELS[variant]}: " if len(variants) > 1 else ""
        header += [
            f"{prefix}time",
            *(column.title for column in columns),
            f"{prefix}anonymous memory",
            columns[0].title,
            f"{prefix}peak RSS",
        ]
    rows = []
    for outcome in results.outcomes:
        if not outcome.measured:
            rows.append(missing_row(outcome, len(header)))
            continue
        row = [outcome.label]
        for variant in variants:
            by_key, memory_by_key = seconds.get(variant, {}), anonymous.get(variant, {})
            time_value = median(by_key.get(outcome.key))
            memory_value = median(memory_by_key.get(outcome.key))
            row += [
                format_seconds(time_value)
                if time_value is not None and time_value >= 10
                else format_ms(time_value),
                *(format_ratio(time_value, median(by_key.get(column.baseline))) for column in columns),
                format_mebibytes(memory_value),
                format_ratio(memory_value, median(memory_by_key.get(columns[0].baseline))),
                format_mebibytes(median(rss.get(variant, {}).get(outcome.key))),
            ]
        rows.append(row)
    return table(header, rows)


def memory_build_table(results: Results) -> list[str]:
    """Builds with warm caches, their memory, and sizes (the mid-size and large apps)."""
    header = [
        "contender",
        "build (warm caches)",
        f"{TIMES} PEX CLI",
        "anonymous memory",
        "peak RSS",
        "size",
        f"{TIMES} shiv size",
    ]
    anonymous, rss = build_memory(results, "anonymous"), build_memory(results, "rss")
    pex = median(results.build_warm.get(PEX))
    shiv = results.outcome(SHIV)
    shiv_size = shiv.size_bytes if shiv else None
    rows = []
    for outcome in results.outcomes:
        if not outcome.measured:
            rows.append(missing_row(outcome, len(header)))
            continue
        seconds = median(results.build_warm.get(outcome.key))
        rows.append(
            [
                outcome.label,
                format_seconds(seconds),
                format_ratio(seconds, pex),
                format_mebibytes(median(anonymous.get(outcome.key))),
                format_mebibytes(median(rss.get(outcome.key))),
                format_megabytes(outcome.size_bytes),
                format_ratio(outcome.size_bytes, shiv_size),
            ]
        )
    return table(header, rows)


def memory_app_tables(
    results: Results, prefix: str, targets: Sequence[str], warm_columns: Sequence[Column]
) -> list[str]:
    """The tables of an app whose memory is measured (mid-size, large): `targets`, the before vs after
    table if any, warm and first starts with their memory, the first start taken apart, the builds."""
    rounds = results.meta.get("rounds", {})
    return [
        f"## {prefix}Targets (hatch-pex's median ÷ the baseline's)",
        "",
        *targets,
        "",
        *before_after_section(results),
        f"## {prefix}Warm start (cache populated; {of_rounds(rounds.get('warm'))})",
        "",
        *memory_start_table(results, "warm", warm_columns),
        "",
        f"## {prefix}First start (empty PEX_ROOT / SHIV_ROOT; {of_rounds(rounds.get('cold'))})",
        "",
        *memory_start_table(results, "first", [Column(SHIV, f"{TIMES} shiv")]),
        "",
        *timeline_section(results, prefix),
        f"## {prefix}Build (warm caches; {of_rounds(rounds.get('build'))}), its memory, and size",
        "",
        *memory_build_table(results),
        "",
    ]


def large_tables(results: Results, prefix: str = "Large app: ") -> list[str]:
    """The large app's tables, as printed on the console (the page puts them one level down, without
    the prefix)."""
    return memory_app_tables(results, prefix, large_targets_table(results), [Column(VENV, f"{TIMES} venv")])


def mid_targets_table(results: Results) -> list[str]:
    ours = results.outcome(HATCH_PEX)
    if ours is not None and not ours.measured:
        return [f"hatch-pex was not measured: {ours.status} (see below)."]
    variants = measured_variants(results)
    header = ["hatch-pex target", *(VARIANT_LABELS[variant] for variant in variants)]
    warm = [
        verdict(
            median(results.warm.get(variant, {}).get(HATCH_PEX)),
            median(results.warm.get(variant, {}).get(VENV)),
            MID_WARM_START_VS_VENV,
        )
        for variant in variants
    ]
    return table(header, [[f"warm start ≤ {MID_WARM_START_VS_VENV:.2f}{TIMES} plain venv's", *warm]])


def mid_tables(results: Results, prefix: str = "Mid app: ") -> list[str]:
    """The mid-size app's tables, as printed on the console (the page: one level down, no prefix)."""
    warm_columns = [Column(VENV, f"{TIMES} venv"), Column(SYSTEM_SITE_VENV, f"{TIMES} system-site venv")]
    return memory_app_tables(results, prefix, mid_targets_table(results), warm_columns)

"""The PNG chart of a results file. Runs in the tools venv (matplotlib):

benchmarks/work/tools/bin/python -m harness.chart RESULTS.json OUT.png   (cwd: benchmarks/)
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from .measure import VARIANT_LABELS, VARIANTS
from .results import Results


@dataclass(frozen=True)
class Bar:
    """One bar: the median and, for timings, the quartiles drawn as a whisker (None: no bar)."""

    value: float | None
    low: float | None = None
    high: float | None = None


# series label -> one bar per contender
Series = dict[str, list[Bar]]


def bar_of(samples: Sequence[float] | None, scale: float) -> Bar:
    if not samples:
        return Bar(None)
    if len(samples) == 1:
        return Bar(samples[0] * scale)
    low, middle, high = statistics.quantiles(samples, n=4, method="inclusive")
    return Bar(middle * scale, low * scale, high * scale)


def whiskers(bars: Sequence[Bar]) -> list[list[float]]:
    """matplotlib's `xerr`: distances from each bar's end down to its low and up to its high."""
    below = [bar.value - bar.low if bar.value is not None and bar.low is not None else 0.0 for bar in bars]
    above = [bar.high - bar.value if bar.value is not None and bar.high is not None else 0.0 for bar in bars]
    return [below, above]


def grouped_bars(axes: Axes, labels: Sequence[str], series: Series, title: str, unit: str) -> None:
    """Horizontal bars, one group per contender, one bar per series, each with its value written."""
    height = 0.8 / max(len(series), 1)
    for index, (name, bars) in enumerate(series.items()):
        positions = [row + index * height for row in range(len(labels))]
        lengths = [bar.value if bar.value is not None else 0.0 for bar in bars]
        axes.barh(
            positions, lengths, height=height, label=name, xerr=whiskers(bars), error_kw={"elinewidth": 0.8}
        )
        write_values(axes, positions, bars)
    axes.set_yticks([row + height * (len(series) - 1) / 2 for row in range(len(labels))], labels=labels)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(unit)
    axes.margins(x=0.15)
    if len(series) > 1:
        axes.legend(fontsize=7, loc="lower right")


def write_values(axes: Axes, positions: Sequence[float], bars: Sequence[Bar]) -> None:
    """Each bar's value just right of its whisker (or of the bar, when it has none)."""
    for position, bar in zip(positions, bars):
        end = max(value for value in (bar.value, bar.high, 0.0) if value is not None)
        axes.annotate(
            value_text(bar.value),
            (end, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )


def value_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def start_series(samples: dict[str, dict[str, list[float]]], keys: list[str]) -> Series:
    return {
        VARIANT_LABELS[variant]: [bar_of(samples.get(variant, {}).get(key), 1000) for key in keys]
        for variant in VARIANTS
    }


def build_series(results: Results, keys: list[str]) -> Series:
    return {
        "cold (empty caches)": [bar_of(results.build_cold.get(key), 1) for key in keys],
        "warm rebuild": [bar_of(results.build_warm.get(key), 1) for key in keys],
    }


def size_series(results: Results, keys: list[str]) -> Series:
    sizes = {outcome.key: outcome.size_bytes for outcome in results.outcomes}
    return {"size": [Bar(megabytes(sizes.get(key))) for key in keys]}


def megabytes(size: int | None) -> float | None:
    return None if size is None else size / 1e6


def draw(results: Results, output: Path) -> None:
    measured = [outcome for outcome in results.outcomes if outcome.measured]
    keys = [outcome.key for outcome in measured]
    labels = [outcome.label.replace("`", "") for outcome in measured]
    figure, grid = plt.subplots(2, 2, figsize=(13, 8.5), constrained_layout=True)
    grouped_bars(
        grid[0][0],
        labels,
        start_series(results.warm, keys),
        "Warm start",
        "ms (median; whiskers: middle half)",
    )
    grouped_bars(
        grid[0][1],
        labels,
        start_series(results.first, keys),
        "First start, empty cache",
        "ms (median; whiskers: middle half)",
    )
    grouped_bars(
        grid[1][0], labels, build_series(results, keys), "Build time", "s (median; whiskers: middle half)"
    )
    grouped_bars(grid[1][1], labels, size_series(results, keys), "Size", "MB")
    missing = [outcome.label.replace("`", "") for outcome in results.outcomes if not outcome.measured]
    meta = results.meta
    title = f"hatch-pex benchmark, {meta.get('date', '')}, CPython {meta.get('interpreter_version', '')}"
    if missing:
        title += f" (not measured: {', '.join(missing)})"
    figure.suptitle(title, fontsize=11)
    figure.savefig(output, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("output", type=Path)
    arguments = parser.parse_args(argv)
    draw(Results.load(arguments.results), arguments.output)


if __name__ == "__main__":
    main()

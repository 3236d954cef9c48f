"""The PNG chart of a results file. Runs in the tools venv (matplotlib):

benchmarks/work/tools/bin/python -m harness.chart RESULTS.json OUT.png   (cwd: benchmarks/)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from .measure import VARIANT_LABELS, VARIANTS
from .report import median
from .results import Results

# series label -> one value per contender (None: nothing to draw)
Series = dict[str, list[Optional[float]]]  # a run-time alias: `X | None` needs 3.10


def grouped_bars(axes: Axes, labels: Sequence[str], series: Series, title: str, unit: str) -> None:
    """Horizontal bars, one group per contender, one bar per series, each with its value written."""
    height = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        positions = [row + index * height for row in range(len(labels))]
        drawn = [value if value is not None else 0.0 for value in values]
        bars = axes.barh(positions, drawn, height=height, label=name)
        texts = [value_text(value) for value in values]
        axes.bar_label(bars, labels=texts, padding=2, fontsize=7)
    axes.set_yticks([row + height * (len(series) - 1) / 2 for row in range(len(labels))], labels=labels)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(unit)
    axes.margins(x=0.15)
    if len(series) > 1:
        axes.legend(fontsize=7, loc="lower right")


def value_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def start_series(results: Results, samples: dict[str, dict[str, list[float]]], keys: list[str]) -> Series:
    series: Series = {}
    for variant in VARIANTS:
        values = [median(samples.get(variant, {}).get(key)) for key in keys]
        series[VARIANT_LABELS[variant]] = [None if value is None else value * 1000 for value in values]
    return series


def build_series(results: Results, keys: list[str]) -> Series:
    return {
        "cold (empty caches)": [median(results.build_cold.get(key)) for key in keys],
        "warm rebuild": [median(results.build_warm.get(key)) for key in keys],
    }


def size_series(results: Results, keys: list[str]) -> Series:
    sizes = {outcome.key: outcome.size_bytes for outcome in results.outcomes}
    return {"size": [megabytes(sizes.get(key)) for key in keys]}


def megabytes(size: int | None) -> float | None:
    return None if size is None else size / 1e6


def draw(results: Results, output: Path) -> None:
    measured = [outcome for outcome in results.outcomes if outcome.measured]
    keys = [outcome.key for outcome in measured]
    labels = [outcome.label.replace("`", "") for outcome in measured]
    figure, grid = plt.subplots(2, 2, figsize=(13, 8.5), constrained_layout=True)
    grouped_bars(grid[0][0], labels, start_series(results, results.warm, keys), "Warm start", "ms (median)")
    grouped_bars(
        grid[0][1],
        labels,
        start_series(results, results.first, keys),
        "First start, empty cache",
        "ms (median)",
    )
    grouped_bars(grid[1][0], labels, build_series(results, keys), "Build time", "s (median)")
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

"""The three benchmarks: the small app (default), the mid-size Django app (`--mid`) and the
large-closure app (`--large`), each with its contenders, its default rounds and what is measured of it."""

from __future__ import annotations

from dataclasses import dataclass

from .contenders import (
    CONTENDERS,
    LARGE_APP,
    LARGE_CONTENDERS,
    MID_APP,
    MID_CONTENDERS,
    SMALL_APP,
    App,
    Contender,
)
from .measure import VARIANTS


@dataclass(frozen=True)
class Scenario:
    """`rounds` keys: "warm" (warm starts), "cold" (first starts), "build" (builds of each kind).
    `cold_builds`: also builds with every cache empty (else warm rebuilds only); `memory`: sample the
    memory of every timed start and build; `verify`: start each artifact once after the builds (else
    the warm-start priming run is the check); `first_start_warm_up`: one discarded first-start round;
    `first_start_primes_warm`: the warm starts' priming runs (each on an empty runtime root) are
    recorded as the first round of first starts instead of being discarded."""

    app: App
    contenders: tuple[Contender, ...]
    full_rounds: dict[str, int]
    quick_rounds: dict[str, int]
    variants: tuple[str, ...]
    results_name: str
    cold_builds: bool = True
    memory: bool = False
    verify: bool = True
    first_start_warm_up: bool = True
    first_start_primes_warm: bool = False
    references: bool = True


SMALL = Scenario(
    app=SMALL_APP,
    contenders=CONTENDERS,
    full_rounds={"warm": 15, "cold": 7, "build": 3},
    quick_rounds={"warm": 5, "cold": 3, "build": 1},
    variants=tuple(VARIANTS),
    results_name="results.json",
)

# The mid-size app starts in some 0.4-0.7 s warm, but an archive's first start writes its ~4,000 files:
# 5-10 s on this kind of machine; its PEX CLI and shiv builds take 10-15 s each. Both variants, and
# memory (cheap: a sample costs ~0.1 ms every 10 ms). As for the large app: builds with warm caches only
# (a cold build would time downloading Django and hatch creating its build environment, which the small
# app's cold builds measure already), and no warm-up or check runs: the page cache is warm from the
# builds, and the warm starts' priming runs check each artifact and are the first round of first starts.
# About 15 minutes on two cores (--quick: about 7).
MID = Scenario(
    app=MID_APP,
    contenders=MID_CONTENDERS,
    full_rounds={"warm": 10, "cold": 5, "build": 2},
    quick_rounds={"warm": 3, "cold": 2, "build": 1},
    variants=tuple(VARIANTS),
    results_name="results-mid.json",
    cold_builds=False,
    memory=True,
    verify=False,
    first_start_warm_up=False,
    first_start_primes_warm=True,
    references=False,
)

# Each first start of the large app takes some 20 s and each PEX CLI or shiv build 70-120 s, so fewer
# rounds, one variant (bytecode writes allowed), no cold builds and no extra warm-up or check runs:
# the page cache is warm from the builds; the warm-start priming runs check each artifact and are
# the first round of first starts. Priming the build caches alone takes some 5 minutes, one round of
# builds some 6. About 25 minutes on two cores (--quick: about 13).
LARGE = Scenario(
    app=LARGE_APP,
    contenders=LARGE_CONTENDERS,
    full_rounds={"warm": 5, "cold": 3, "build": 2},
    quick_rounds={"warm": 2, "cold": 1, "build": 1},
    variants=("default",),
    results_name="results-large.json",
    cold_builds=False,
    memory=True,
    verify=False,
    first_start_warm_up=False,
    first_start_primes_warm=True,
    references=False,
)

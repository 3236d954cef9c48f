"""Everything one run measured, saved as JSON in the work dir so the report can be redrawn."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# variant -> key -> seconds per measured run
Samples = dict[str, dict[str, list[float]]]
# variant -> key -> one dict of seconds per timeline run (measure.py, `Timeline`: its fields)
Timelines = dict[str, dict[str, list[dict[str, float]]]]
MEASURED = "measured"
NOT_BUILT = "not built"
DOES_NOT_RUN = "does not run"


@dataclass
class Outcome:
    """One contender: `status` is MEASURED, NOT_BUILT or DOES_NOT_RUN (then `detail` says why)."""

    key: str
    label: str
    status: str
    size_bytes: int | None = None
    detail: str = ""

    @property
    def measured(self) -> bool:
        return self.status == MEASURED


@dataclass
class Results:
    meta: dict[str, Any]
    outcomes: list[Outcome]
    warm: Samples = field(default_factory=dict)
    first: Samples = field(default_factory=dict)
    build_cold: dict[str, list[float]] = field(default_factory=dict)
    build_warm: dict[str, list[float]] = field(default_factory=dict)
    # Bytes, when memory was measured (the large app): "warm" and "first" -> "anonymous" or "rss" ->
    # Samples; "build" -> "anonymous" or "rss" -> key -> bytes per timed build. See memory.py.
    memory: dict[str, Any] = field(default_factory=dict)
    # The hatch-pex files' first-start timelines (extra PEX_VERBOSE=1 runs, not the first starts above).
    timeline: Timelines = field(default_factory=dict)

    def outcome(self, key: str) -> Outcome | None:
        return next((outcome for outcome in self.outcomes if outcome.key == key), None)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        data["outcomes"] = [Outcome(**outcome) for outcome in data["outcomes"]]
        return cls(**data)

"""Shared timing for the benchmarks: interleaved reference/ours pairs and the median of their ratios.

On a busy machine the speed changes from one second to the next, so two timings taken a minute apart
compare the load as much as the code. Timing the reference and ours back to back (A B, B A, A B, …)
puts each pair under the same load: the per-pair ratio is steady even when the times are not, and its
median with the spread (quartiles, min–max) tells a real difference from noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def time_once(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds: for absolute times that have no reference."""
    return min(time_once(fn) for _ in range(max(1, repeats)))


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


@dataclass(frozen=True)
class Pairs:
    """Seconds of the reference and of ours, one entry per interleaved pair."""

    reference: tuple[float, ...]
    ours: tuple[float, ...]

    @property
    def ratios(self) -> list[float]:
        return [o / r for r, o in zip(self.reference, self.ours, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the per-pair ratios ours / reference."""
        return statistics.median(self.ratios)

    @property
    def difference_s(self) -> float:
        """The median of the per-pair differences ours - reference, in seconds."""
        return statistics.median(o - r for r, o in zip(self.reference, self.ours, strict=True))

    @property
    def reference_s(self) -> float:
        return statistics.median(self.reference)

    @property
    def ours_s(self) -> float:
        return statistics.median(self.ours)

    def spread(self, fmt: str = ".3f") -> str:
        r = self.ratios
        q1, q3 = _quartiles(r)
        return f"IQR {q1:{fmt}}-{q3:{fmt}}, min-max {min(r):{fmt}}-{max(r):{fmt}}, " \
               f"{len(r)} pair{'s' if len(r) != 1 else ''}"

    def describe(self, fmt: str = ".3f") -> str:
        """``ratio 0.987 (IQR 0.975-0.996, min-max 0.950-1.020, 5 pairs)``."""
        return f"ratio {self.ratio:{fmt}} ({self.spread(fmt)})"


def compare(reference: Callable[[], Any], candidates: Mapping[str, Callable[[], Any]], pairs: int,
            *, warmup: bool = False, settle: Callable[[], Any] | None = None) -> dict[str, Pairs]:
    """Time ``reference`` next to each candidate ``pairs`` times, alternating which runs first.

    Rounds go over all candidates in turn (round 1: A B1, A B2, …; round 2: B1 A, B2 A, …), so a slow
    drift in the machine's load touches every candidate alike. ``warmup`` runs each function once,
    untimed, first (imports, allocator growth, lazy initialisation). ``settle`` runs, untimed, after
    every timed call: work a call left running in the background must not slow the next one.
    """
    def timed(fn: Callable[[], Any]) -> float:
        t = time_once(fn)
        if settle is not None:
            settle()
        return t

    if warmup:
        for fn in (reference, *candidates.values()):
            timed(fn)
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in candidates}
    for i in range(max(1, pairs)):
        for name, fn in candidates.items():
            ref, ours = times[name]
            if i % 2 == 0:
                ref.append(timed(reference))
                ours.append(timed(fn))
            else:
                ours.append(timed(fn))
                ref.append(timed(reference))
    return {name: Pairs(tuple(ref), tuple(ours)) for name, (ref, ours) in times.items()}


def pair(reference: Callable[[], Any], ours: Callable[[], Any], pairs: int, *, warmup: bool = False) -> Pairs:
    """``compare`` for a single candidate."""
    return compare(reference, {"ours": ours}, pairs, warmup=warmup)["ours"]

"""Helpers shared by the benchmark scripts: timing with warm-up and device sync, log-log growth fits."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch


def time_ms(fn: Callable[[], object], repeats: int, warmup: int, cuda: bool) -> tuple[float, float]:
    """(median, min) wall time of fn() in milliseconds after ``warmup`` untimed calls (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), min(samples)


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x): ~1 linear, ~2 quadratic; None below 2 distinct x."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx, my = statistics.fmean(x for x, _ in pts), statistics.fmean(y for _, y in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / den, 3)

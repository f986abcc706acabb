"""Shared helpers of the benchmarks: interleaved timing, so that both sides of a ratio see the same machine load."""

import statistics
import time


def interleaved_median_seconds(functions: dict, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Run every function `warmup` times, then `repeats` rounds in turn; return each one's median seconds."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(_seconds(function))
    return {name: statistics.median(values) for name, values in times.items()}


def blocked_median_seconds(functions: dict, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Time each function in its own block (warm-up, then `repeats` runs). For code whose libraries leave threads
    spinning after a call (numpy's OpenBLAS does), which would steal cores from whatever runs next."""
    seconds = {}
    for name, function in functions.items():
        for _ in range(warmup):
            function()
        seconds[name] = statistics.median(_seconds(function) for _ in range(repeats))
    return seconds


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")

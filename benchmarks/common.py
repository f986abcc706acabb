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
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")

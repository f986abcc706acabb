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


def record_matmuls(run) -> dict[tuple, int]:
    """How many times `run()` performs each matrix product (`aten.mm`, `aten.addmm`, `aten.linear`), keyed by the
    shapes of the two matrices and their dtype."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    counts: dict[tuple, int] = {}

    class RecordMatmuls(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            key = None
            if func in (aten.mm.default, aten.addmm.default):
                left, right = args[:2] if func is aten.mm.default else args[1:3]
                key = (tuple(left.shape), tuple(right.shape), left.dtype)
            elif func is aten.linear.default:  # not decomposed into mm / addmm under torch.inference_mode
                inputs, weight = args[:2]
                key = ((inputs.numel() // inputs.shape[-1], inputs.shape[-1]), tuple(weight.shape[::-1]), inputs.dtype)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
            return func(*args, **(kwargs or {}))

    with RecordMatmuls():
        run()
    return counts


def matmul_floor_seconds(run, repeats: int = 5) -> float:
    """Seconds this machine needs for the matrix products alone that `run()` performs, each shape timed on its own
    with `torch.mm`. Nothing that reorders or fuses the other work can beat this floor, so a target below it needs
    fewer products or faster matrix kernels."""
    import torch

    total = 0.0
    for (left_shape, right_shape, dtype), count in record_matmuls(run).items():
        left, right = torch.randn(left_shape, dtype=dtype), torch.randn(right_shape, dtype=dtype)
        torch.mm(left, right)
        total += count * statistics.median(_seconds(lambda: torch.mm(left, right)) for _ in range(repeats))
    return total

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


def record_calls(run, operators) -> list[tuple[int, object, list, dict]]:
    """The calls `run()` makes of `operators` (aten overloads, e.g. `torch.ops.aten.gelu.default`), grouped by
    operator and by the shapes, strides and dtypes of their tensor arguments (and their other arguments): per group
    `(count, operator, args, kwargs)` with one call's arguments, tensors cloned with their strides. Forward passes only:
    `run()` runs under `torch.inference_mode`, where composite operators such as `layer_norm` reach the recorder
    whole."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten, tree_map

    operators = set(operators)
    groups: dict[tuple, list] = {}

    def signature(value):
        if isinstance(value, torch.Tensor):
            return ("tensor", tuple(value.shape), value.stride(), value.dtype)
        return value if isinstance(value, (int, float, bool, str, type(None))) else repr(value)

    def clone(value):
        return value.clone() if isinstance(value, torch.Tensor) else value

    class RecordCalls(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in operators:
                leaves, spec = tree_flatten((args, kwargs))
                key = (func, str(spec), tuple(signature(leaf) for leaf in leaves))
                if key in groups:
                    groups[key][0] += 1
                else:
                    groups[key] = [1, func, tree_map(clone, list(args)), tree_map(clone, kwargs)]
            return func(*args, **kwargs)

    with torch.inference_mode(), RecordCalls():
        run()
    return [tuple(group) for group in groups.values()]


def replayed_seconds(run, operators, repeats: int = 5) -> float:
    """Seconds the calls `run()` makes of `operators` take, each replayed on its own (`record_calls`): one call of each
    group is timed, and counted as many times as the group has calls."""
    import torch

    total = 0.0
    with torch.inference_mode():
        for count, func, args, kwargs in record_calls(run, operators):
            func(*args, **kwargs)
            total += count * statistics.median(_seconds(lambda: func(*args, **kwargs)) for _ in range(repeats))
    return total


def attention_floor_seconds(run, repeats: int = 5) -> float:
    """Seconds this machine needs for the scaled-dot-product attention `run()` performs, each call replayed on its own
    (`record_calls`) in the faster of torch's fused `scaled_dot_product_attention` and its plain form (scores
    product, softmax, weighted sum), which is faster for short sequences on some CPUs. The matrix-product floors count
    the linear layers only; attention is the part of a transformer they leave out, and which int8 linear layers do
    not touch. Forward passes only, as `record_calls`."""
    import torch

    total = 0.0
    with torch.inference_mode():
        for count, _, args, kwargs in record_calls(run, [torch.ops.aten.scaled_dot_product_attention.default]):
            query, key, value = args[:3]
            mask = args[3] if len(args) > 3 else kwargs.get("attn_mask")
            scale = kwargs.get("scale") or query.shape[-1] ** -0.5

            def fused():
                torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale)

            def plain():
                scores = torch.matmul(query, key.transpose(-1, -2)) * scale
                if mask is not None:  # boolean, True = attend
                    scores = scores.masked_fill(~mask, -torch.inf)
                torch.matmul(scores.softmax(dim=-1), value)

            best = float("inf")
            for candidate in (fused, plain):
                candidate()
                best = min(best, statistics.median(_seconds(candidate) for _ in range(repeats)))
            total += count * best
    return total


def int8_matmul_floor_seconds(run, repeats: int = 5) -> float:
    """Seconds the fastest int8 matrix product this machine offers needs for the float32 products `run()` performs
    (`record_matmuls`), each shape timed on its own: per shape the faster of `torch._int_mm` (int8 inputs, int32
    output: the product alone, no quantisation of activations, no rescaling) and, with onnxruntime installed, its
    `DynamicQuantizeMatMul` (the fused kernel of a dynamically quantised graph: activations quantised per call, int8
    weights per output channel, float output). A floor for any int8 form of the same linear layers."""
    import torch

    total = 0.0
    for (left_shape, right_shape, dtype), count in record_matmuls(run).items():
        left = torch.randint(-127, 128, left_shape, dtype=torch.int8)
        right = torch.randint(-127, 128, right_shape, dtype=torch.int8)
        candidates = [lambda: torch._int_mm(left, right)]
        session = dynamic_quantize_matmul_session(right_shape)
        if session is not None:
            activations = {"x": torch.randn(left_shape).numpy()}
            candidates.append(lambda: session.run(None, activations))
        best = float("inf")
        for candidate in candidates:
            for _ in range(25):  # torch._int_mm (oneDNN on AMX) takes some 20 calls to settle at its speed
                candidate()
            best = min(best, statistics.median(_seconds(candidate) for _ in range(repeats)))
        total += count * best
    return total


def dynamic_quantize_matmul_session(weight_shape: tuple[int, int]):
    """An onnxruntime session holding one `DynamicQuantizeMatMul` (com.microsoft) of float32 activations `x` `(M, K)`
    with random int8 weights `weight_shape` `(K, N)`, per output channel; None without onnxruntime."""
    import numpy as np
    import torch

    try:
        import onnxruntime
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    rows, columns = weight_shape
    weights = [
        numpy_helper.from_array(rng.integers(-127, 128, weight_shape).astype(np.int8), "w"),
        numpy_helper.from_array(np.full(columns, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(columns, np.int8), "w_zero_point"),
    ]
    node = helper.make_node("DynamicQuantizeMatMul", ["x", "w", "w_scale", "w_zero_point"], ["y"],
                            domain="com.microsoft")
    graph = helper.make_graph([node], "int8_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  [None, rows])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft",
                                                                                                     1)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


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

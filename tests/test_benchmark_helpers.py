"""The benchmarks' floors count what a forward and backward pass really performs, and the embedding benchmark prints its
floor and its int8 ceiling."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import (  # noqa: E402
    attention_floor_seconds,
    dynamic_quantize_matmul_session,
    int8_matmul_floor_seconds,
    matmul_floor_seconds,
    record_calls,
    record_matmuls,
    replayed_seconds,
)


def test_record_matmuls_sees_forward_and_backward_products_of_a_linear_layer():
    layer = torch.nn.Linear(8, 4)
    inputs = torch.randn(2, 5, 8, requires_grad=True)

    def step():
        layer(inputs).sum().backward()

    counts = record_matmuls(step)
    float32 = torch.float32
    # forward: (10, 8) @ (8, 4) with the bias; backward: the input gradient (10, 4) @ (4, 8) and the weight gradient
    # (4, 10) @ (10, 8).
    assert counts == {((10, 8), (8, 4), float32): 1, ((10, 4), (4, 8), float32): 1, ((4, 10), (10, 8), float32): 1}
    assert matmul_floor_seconds(step, repeats=1) > 0


def test_record_matmuls_ignores_work_without_matrix_products():
    assert record_matmuls(lambda: torch.randn(100).exp().sum()) == {}


def test_record_matmuls_sees_linear_layers_under_inference_mode():
    layer = torch.nn.Linear(8, 4)
    with torch.inference_mode():
        counts = record_matmuls(lambda: layer(torch.randn(2, 5, 8)))
    assert counts == {((10, 8), (8, 4), torch.float32): 1}


def test_attention_floor_replays_each_attention_call():
    query, key = torch.randn(2, 3, 7, 4), torch.randn(2, 3, 5, 4)
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)

    def attend():
        torch.nn.functional.scaled_dot_product_attention(query, key, key)
        torch.nn.functional.scaled_dot_product_attention(query, key, key, attn_mask=mask)

    aten = torch.ops.aten
    groups = record_calls(attend, [aten.scaled_dot_product_attention.default])
    assert sorted(len(args) + len(kwargs) for _, _, args, kwargs in groups) == [3, 4]  # with and without the mask
    assert attention_floor_seconds(attend, repeats=1) > 0
    assert attention_floor_seconds(lambda: torch.randn(3, 3) @ torch.randn(3, 3), repeats=1) == 0


def test_int8_floor_times_the_recorded_products_and_nothing_else():
    layer = torch.nn.Linear(64, 32)
    with torch.inference_mode():
        assert int8_matmul_floor_seconds(lambda: layer(torch.randn(40, 64)), repeats=1) > 0
    assert int8_matmul_floor_seconds(lambda: torch.randn(100).exp().sum(), repeats=1) == 0


def test_the_int8_floor_kernel_is_a_dynamically_quantised_product():
    session = dynamic_quantize_matmul_session((64, 32))
    inputs = np.random.default_rng(0).standard_normal((40, 64)).astype(np.float32)
    (output,) = session.run(None, {"x": inputs})
    assert output.shape == (40, 32) and output.dtype == np.float32 and np.abs(output).max() > 0


def test_record_calls_groups_calls_by_operator_and_argument_layout():
    aten = torch.ops.aten
    square, wide = torch.randn(4, 4), torch.randn(4, 8)

    def run():
        torch.nn.functional.gelu(square)
        torch.nn.functional.gelu(square + 1)  # same layout: same group
        torch.nn.functional.gelu(wide)
        torch.nn.functional.gelu(square.t())  # same shape, other strides: its own group
        torch.nn.functional.layer_norm(wide, [8])

    groups = record_calls(run, [aten.gelu.default])
    assert sorted((count, tuple(args[0].shape), args[0].stride()) for count, _, args, _ in groups) == [
        (1, (4, 4), (1, 4)), (1, (4, 8), (8, 1)), (2, (4, 4), (4, 1))]
    assert all(func is aten.gelu.default for _, func, _, _ in groups)
    count, func, args, kwargs = next(group for group in groups if group[0] == 2)
    assert torch.equal(func(*args, **kwargs), torch.nn.functional.gelu(square))  # the first call's arguments, cloned
    assert replayed_seconds(run, [aten.gelu.default, aten.layer_norm.default], repeats=1) > 0
    assert replayed_seconds(run, [aten.softmax.int], repeats=1) == 0


def test_the_embedding_benchmark_prints_its_floor_and_the_int8_ceiling(capsys):
    import bench_embedding

    seconds = bench_embedding.main(["--seconds", "8", "--repeats", "1", "--skip_mert", "--skip_onnx"])
    printed = capsys.readouterr().out
    assert {"vit1d", "vit1d torch int8 dynamic", "vit1d torch bfloat16"} <= set(seconds)
    for row in ("matrix products alone", "int8 products alone", "fp32 attention alone", "front end alone",
                "norms, GELU, sums alone", "int8 ceiling", "the floor's; min token cosine"):
        assert row in printed

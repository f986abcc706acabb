"""The benchmarks' matrix-product floor counts the products a forward and backward pass really performs."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import matmul_floor_seconds, record_matmuls  # noqa: E402


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

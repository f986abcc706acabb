"""NT-Xent across processes: 2 gloo processes on the halves of a batch give the loss and gradients of 1 process on the
whole batch (the differentiable all_gather of `nt_xent_loss`, with DDP-style gradient averaging), also when crops of
one track sit on both processes and are masked out of each other's negatives by their gathered track ids."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import tiny_config

import vit1d

WORLD_SIZE = 2
# Tracks 0 and 1 have pairs on both processes' halves: masking them needs the gathered ids.
TRACK_IDS = torch.tensor([0, 1, 2, 0, 1, 3, 4, 0])


def _batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(8, 20, 16, generator=generator), torch.randn(8, 20, 16, generator=generator)


def _model(projection_dim):
    torch.manual_seed(0)
    return vit1d.ViT1DForContrastivePretraining(tiny_config(projection_dim=projection_dim)).double()


def _worker(rank, port, projection_dim, masked, results):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        model = _model(projection_dim)
        views, positives = (x.double().chunk(WORLD_SIZE)[rank] for x in _batch())
        track_ids = TRACK_IDS.chunk(WORLD_SIZE)[rank] if masked else None
        loss = model(views, positives, gather_across_processes=True, track_ids=track_ids).loss
        loss.backward()
        for param in model.parameters():  # what DistributedDataParallel does: average the gradients
            dist.all_reduce(param.grad)
            param.grad /= WORLD_SIZE
        results[rank] = (loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()})
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_two_processes(projection_dim, masked):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), projection_dim, masked, results), nprocs=WORLD_SIZE, join=True)
        return dict(results)


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_whole_batch():
    for projection_dim, masked in ((None, False), (8, False), (None, True)):
        model = _model(projection_dim)
        views, positives = (x.double() for x in _batch())
        loss = model(views, positives, track_ids=TRACK_IDS if masked else None).loss
        loss.backward()
        reference = {n: p.grad for n, p in model.named_parameters()}
        results = _run_two_processes(projection_dim, masked)
        for rank in range(WORLD_SIZE):
            rank_loss, gradients = results[rank]
            assert abs(rank_loss - loss.item()) < 1e-6  # every process computes the global loss
            for name, gradient in gradients.items():
                torch.testing.assert_close(gradient, reference[name], atol=1e-6, rtol=0, msg=name)


def test_without_gather_each_process_sees_only_its_half():
    # Guards the test above: without the gather, the per-process losses differ from the global one.
    model = _model(None)
    views, positives = (x.double() for x in _batch())
    whole = model(views, positives).loss.item()
    half = model(views[:4], positives[:4]).loss.item()
    assert abs(whole - half) > 1e-3

"""Training step (forward + backward, fp32, CPU) of ViT-1D vs transformers' ViTModel of the same shape.

Both see 64 x 127 tokens of 128 input values: ViT-1D gets 126 log-mel frames (+ its class token), ViTModel a
1-channel 8 x 2016 image cut into 126 patches of 8 x 16 (+ its CLS token), with SDPA attention.
Target: ViT-1D >= 1.1x ViTModel's throughput.
"""

import argparse

import torch
from common import interleaved_median_seconds, matmul_floor_seconds, report
from transformers import ViTConfig, ViTModel

import vit1d


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=126)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    ours = vit1d.ViT1DModel(vit1d.ViT1DConfig()).train()
    peer_config = ViTConfig(
        hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768, hidden_act="gelu",
        image_size=(8, 16 * args.frames), patch_size=(8, 16), num_channels=1, attn_implementation="sdpa",
    )
    peer = ViTModel(peer_config, add_pooling_layer=False).train()
    frames = torch.randn(args.batch_size, args.frames, 128)
    pixels = torch.randn(args.batch_size, 1, 8, 16 * args.frames)
    assert ours(frames).last_hidden_state.shape == peer(pixels).last_hidden_state.shape

    def step(model, inputs):
        def run():
            model.zero_grad(set_to_none=True)
            model(inputs).last_hidden_state.square().mean().backward()
        return run

    seconds = interleaved_median_seconds(
        {"vit1d": step(ours, frames), "ViTModel": step(peer, pixels)}, repeats=args.repeats
    )
    # Both models run the same matrix products (same shapes); only the work around them can differ.
    floor = matmul_floor_seconds(step(ours, frames))
    samples = args.batch_size
    report(
        f"training step, batch {args.batch_size} x {args.frames} frames, fp32, {torch.get_num_threads()} threads",
        [
            ("vit1d", f"{seconds['vit1d']:.3f} s/step, {samples / seconds['vit1d']:.1f} clips/s"),
            ("ViTModel (sdpa)", f"{seconds['ViTModel']:.3f} s/step, {samples / seconds['ViTModel']:.1f} clips/s"),
            ("throughput ratio", f"{seconds['ViTModel'] / seconds['vit1d']:.2f}x (target >= 1.1x)"),
            ("matrix products alone", f"{floor:.3f} s/step (the same in both models)"),
            (
                "outside matrix products",
                f"vit1d {seconds['vit1d'] - floor:.3f} s, ViTModel {seconds['ViTModel'] - floor:.3f} s; 1.1x needs "
                f"vit1d <= {seconds['ViTModel'] / 1.1 - floor:.3f} s",
            ),
        ],
    )
    return seconds


if __name__ == "__main__":
    main()

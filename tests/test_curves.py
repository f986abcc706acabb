"""Learning curves: the points of a run, the shared step-0 and random arms, and the record and figure."""

import json
from dataclasses import replace

import pytest
from conftest import tiny_config

import vit1d
from vit1d.claims import ClaimResult
from vit1d.curves import CurveArguments, curve_points, score_curve
from vit1d.demo import DemoArguments
from vit1d.stats import Interval


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    for folder in (run, run / "initial_encoder", run / "encoders" / "step-00000004"):
        vit1d.ViT1DModel(tiny_config()).save_pretrained(folder)
        (folder / "training_recipe.json").write_text(json.dumps({"steps": 8}))
    (run / "logs.jsonl").write_text("".join(json.dumps({"step": s, "loss": 2.0 / s, "retrieval_top1": 0.1 * s}) + "\n"
                                            for s in range(1, 9)))
    return run


def test_points_are_the_kept_encoders_and_the_end(run_dir, tmp_path):
    assert [(step, folder.name) for step, folder in curve_points(run_dir)] == [(4, "step-00000004"), (8, "run")]
    with pytest.raises(ValueError, match="--encoder_every_steps"):
        curve_points(tmp_path)


def test_every_point_is_scored_with_shared_baselines_and_plotted(run_dir, tmp_path, monkeypatch):
    calls = []

    def fake_demo(args):
        from pathlib import Path

        root = Path(args.output_dir)
        calls.append(root.name)
        assert (root / "model" / "model.safetensors").is_file()
        assert (root / "model" / "initial_encoder" / "model.safetensors").is_file()
        for model in ("trained", "step-0", "random-0"):
            probe = root / "probe" / f"{model}-beat"
            if not probe.exists():
                probe.mkdir(parents=True)
                (probe / "probe_results.json").write_text(json.dumps({"model": model, "for": root.name}))
        (root / "report").mkdir(parents=True, exist_ok=True)
        value = 0.01 * len(calls)
        interval = Interval(value, value - 0.02, value + 0.02, 0.5, {"trained": 10}, {"trained": 3})
        rows = [ClaimResult("C2", "beat", "beat F", "trained - random", interval, 1.0, "inconclusive", ""),
                ClaimResult("C5", "stack", "-", "-", None, None, "inconclusive", "not testable")]
        # As the demo writes them.
        (root / "report" / "claims.json").write_text(json.dumps([row.to_dict() for row in rows]))
        return root / "report"

    monkeypatch.setattr("vit1d.demo.run_demo", fake_demo)
    demo = replace(DemoArguments(), output_dir=str(tmp_path / "curves"), tasks="beat", random_init_seeds="0")
    figure = score_curve(CurveArguments(run_dir=str(run_dir)), demo)
    assert calls == ["step-00000004", "step-00000008"] and figure.is_file()
    # The second point reuses the first point's step-0 and random probes, and probes its own encoder.
    second = tmp_path / "curves" / "step-00000008" / "probe"
    for model in ("step-0", "random-0"):
        assert json.loads((second / f"{model}-beat" / "probe_results.json").read_text())["for"] == "step-00000004"
    assert json.loads((second / "trained-beat" / "probe_results.json").read_text())["for"] == "step-00000008"
    record = json.loads((tmp_path / "curves" / "curves.json").read_text())
    assert record["points"] == [4, 8] and record["training"]["loss"][0] == 2.0
    assert record["claims"]["C2"]["step"] == [4, 8] and record["claims"]["C2"]["value"] == [0.01, 0.02]
    assert "C5" not in record["claims"]  # untestable rows have no curve

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
    calls, floors_from = [], []

    def fake_demo(args):
        from pathlib import Path

        root = Path(args.output_dir)
        calls.append(root.name)
        floors_from.append(args.floors_from and Path(args.floors_from).name)
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
        (root / "report" / "results.json").write_text("{}")
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
    # The first point computes the floors; the later ones reuse its model-independent floors.
    assert floors_from == [None, "step-00000004"]

    # Another pretraining seed of the same config borrows the random arms and floors of this curve's first point;
    # its step 0 is its own.
    calls.clear(), floors_from.clear()
    other = replace(demo, output_dir=str(tmp_path / "curves-seed-1"))
    score_curve(CurveArguments(run_dir=str(run_dir), baselines_from=str(tmp_path / "curves")), other)
    first = tmp_path / "curves-seed-1" / "step-00000004" / "probe"
    assert json.loads((first / "random-0-beat" / "probe_results.json").read_text())["for"] == "step-00000004"
    assert (first / "random-0-beat").is_symlink() and not (first / "step-0-beat").is_symlink()
    assert floors_from == ["step-00000004", "step-00000004"]
    with pytest.raises(ValueError, match="no scored point"):
        score_curve(CurveArguments(run_dir=str(run_dir), baselines_from=str(tmp_path / "nothing")), other)
    # Some points only.
    calls.clear()
    final = replace(demo, output_dir=str(tmp_path / "final-only"))
    score_curve(CurveArguments(run_dir=str(run_dir), steps="8"), final)
    assert calls == ["step-00000008"]
    assert json.loads((tmp_path / "final-only" / "curves.json").read_text())["points"] == [8]
    with pytest.raises(ValueError, match="kept encoders at steps"):
        score_curve(CurveArguments(run_dir=str(run_dir), steps="5"), final)


def scored_point(folder, trained, random, test=0.0):
    """A scored point's results.json: per task, single-layer probes whose validation scores are `trained[task]` at
    layer 6 (0.0 at layer 3) for the trained encoder and `random[task]` for each of two random initialisations; every
    test score is `test` (the selection must not read it)."""
    from vit1d.demo import REPRESENTATIONS

    def results(task, scores):
        kind = REPRESENTATIONS[task].split(",")[0]
        records = [{"task": task, "representation": kind, "layers": [layer], "test": {"score": test},
                    "validation": [{"score": score + 0.001 * seed} for seed in range(3)]}
                   for layer, score in ((3, 0.0), (6, scores))]
        return {"results": records}

    probes = {"trained": [results(task, value) for task, value in trained.items()],
              "random_seeds": {task: [results(task, value)] * 2 for task, value in random.items()}}
    (folder / "report").mkdir(parents=True)
    (folder / "report" / "results.json").write_text(json.dumps({"probes": probes}))


def test_the_release_point_is_chosen_on_validation_gaps(tmp_path):
    from vit1d.curves import select_point, validation_scores

    random = {"tagging": 0.2, "key": 0.5, "beat": 0.4, "chord": 0.3}
    # Run a: step 500 gains 0.05 on every task, step 1000 0.02; run b: step 500 gains 0.06 on beat only (mean 0.015),
    # step 1000 loses on key but gains 0.2 on chord (mean (0.2 - 0.1) / 4): a's step 500 has the best mean gap.
    gains = {("a", 500): dict.fromkeys(random, 0.05), ("a", 1000): dict.fromkeys(random, 0.02),
             ("b", 500): {**dict.fromkeys(random, 0.0), "beat": 0.06},
             ("b", 1000): {**dict.fromkeys(random, 0.0), "key": -0.1, "chord": 0.2}}
    for (run, step), gain in gains.items():
        scored_point(tmp_path / run / f"step-{step:08d}", {task: random[task] + gain[task] for task in random}, random,
                     test=1.0 if (run, step) == ("b", 1000) else 0.0)
    scores = validation_scores(tmp_path / "a" / "step-00000500")
    assert scores["beat"]["gap"] == pytest.approx(0.05) and scores["beat"]["layers"] == [6]
    chosen, rows = select_point([tmp_path / "a", tmp_path / "b"])
    assert chosen == tmp_path / "a" / "step-00000500"
    assert [(row["curve"][-1], row["step"]) for row in rows] == [("a", 500), ("b", 1000), ("a", 1000), ("b", 500)]
    assert rows[1]["mean_gap"] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="no scored point"):
        select_point([tmp_path / "a", tmp_path / "empty"])


def test_seeds_are_compared_with_random_inits_and_their_own_step_0(tmp_path):
    """Three pretraining seeds' curves on disk as run_curves writes them: at each shared step the trained encoders,
    pooled over seeds, against the random initialisations (probes and attention onsets) and their own step 0."""
    import numpy as np
    from test_ab import run_of

    import run_curves

    rng = np.random.default_rng(5)

    def write(folder, model, results):
        (folder / "probe" / model).mkdir(parents=True)
        (folder / "probe" / model / "probe_results.json").write_text(json.dumps(results))

    curves = []
    for seed in range(3):
        curve = tmp_path / f"curves-seed-{seed}"
        for step in (500, 1000) if seed else (500,):  # step 1000 is scored in two of the three curves only
            folder = curve / f"step-{step:08d}"
            trained = run_of(rng, 0.6, 0.45)  # beat F 0.6 trained, 0.45 at its step 0
            write(folder, "trained-beat", trained["trained"]["beat"])
            write(folder, "trained-tagging", trained["trained"]["tagging"])
            write(folder, "step-0-beat", trained["initial"]["beat"])
            onsets = {"trained": {"f_measure": trained["analysis"]["per_track"]["onsets"]["trained"]["f_measure"]}}
            random_onsets = []
            for init in (101, 102, 103):
                random = run_of(rng, 0.5, 0.45)
                write(folder, f"random-{init}-beat", random["trained"]["beat"])
                write(folder, f"random-{init}-tagging", random["trained"]["tagging"])
                random_onsets.append(random["analysis"]["per_track"]["onsets"]["trained"]["f_measure"])
            onsets["random_init"] = {"f_measure": random_onsets}
            (folder / "analysis").mkdir()
            (folder / "analysis" / "analysis_results.json").write_text(json.dumps(
                {"random_init_seeds": [101, 102, 103], "per_track": {"onsets": onsets}}))
            (folder / "report").mkdir()
            (folder / "report" / "results.json").write_text("{}")
        curves.append(curve)

    table = run_curves.main(["--across_runs", *map(str, curves), "--output_dir", str(tmp_path / "seeds")])
    record = json.loads((tmp_path / "seeds" / "seeds.json").read_text())
    assert list(record["steps"]) == ["500"]  # the only step every curve scored
    rows = {(row["claim"], row["statement"]): row for row in record["steps"]["500"]}
    beat = rows[("trained vs random", "beat: trained encoders")]
    assert beat["verdict"] == "supported" and beat["interval"]["low"] < 0.1 < beat["interval"]["high"]
    assert beat["interval"]["num_seeds"] == {"trained": 9, "random": 9}  # 3 pretraining (or init) x 3 probe seeds
    assert rows[("trained vs step 0", "beat: trained encoders")]["verdict"] == "supported"
    assert ("trained vs random", "onsets from attention: trained encoders") in rows
    assert ("trained vs random", "tagging: trained encoders") in rows
    assert "## Step 500" in table.read_text() and "trained 80x9" in table.read_text()
    with pytest.raises(ValueError, match="at least 2"):
        run_curves.main(["--across_runs", str(curves[0]), "--output_dir", str(tmp_path / "one")])

"""Recipe A/B: arms parsed, a demo run per arm and seed, and the comparison on constructed results with known
effects."""

import json
from dataclasses import replace

import numpy as np
import pytest
from test_claims import STRATA, local, record, results, tagging_scores

from vit1d import ab
from vit1d.ab import compare_arms, parse_arms


def run_of(rng, beat_level, step0_level, tagging_signal=1.0):
    beat = [local(rng, beat_level, [layer], [0.6] * 3, "F-measure") for layer in (6, 12)]
    return {"trained": {"beat": results(beat),
                        "tagging": results([record("average", [12], [0.4] * 3,
                                                   track_scores=tagging_scores(rng, tagging_signal))])},
            "initial": {"beat": results([local(rng, step0_level, [6], [0.5] * 3, "F-measure")])},
            "analysis": {"per_track": {"onsets": {"trained": {"f_measure": rng.uniform(0.4, 0.6, len(STRATA))
                                                             .tolist()}}}}}


def test_arms_are_parsed_with_their_flags():
    arms = parse_arms(["raw=", "frame=--config_overrides frame_normalization=layer_norm",
                       "bins=--standardize_mel_bins"])
    assert arms == {"raw": "", "frame": "--config_overrides frame_normalization=layer_norm",
                    "bins": "--standardize_mel_bins"}
    for bad in (["raw="], ["raw=", "raw=--x"], ["no flags", "b="], ["a=--x 'open", "b="]):
        with pytest.raises(ValueError):
            parse_arms(bad)


def test_a_better_arm_and_an_equal_arm_get_their_verdicts():
    rng = np.random.default_rng(0)
    runs = {"base": [run_of(rng, 0.5, 0.45)],
            "better": [run_of(rng, 0.6, 0.45)],  # +0.1 beat F over the same step-0 level
            "same": [run_of(rng, 0.5, 0.45)]}
    verdicts = {(r.claim_id, r.statement): r for r in compare_arms(runs, "base", n_resamples=500)}
    better = verdicts[("better vs base", "beat: trained encoders")]
    assert better.verdict == "supported" and better.interval.low < 0.1 < better.interval.high
    gain = verdicts[("better vs base", "beat: gain over own step 0")]
    assert gain.verdict == "supported" and gain.interval.low < 0.1 < gain.interval.high
    same = verdicts[("same vs base", "beat: trained encoders")]
    assert same.verdict == "inconclusive" and same.interval.low < 0 < same.interval.high
    # The easy grooves are left out of beat, as in the beat claim; onsets and tagging are compared too.
    assert "80 test tracks" in better.metric  # 100 less the 20 grooves
    assert ("better vs base", "onsets from attention: trained encoders") in verdicts
    assert ("better vs base", "tagging: trained encoders") in verdicts


def test_arms_scored_on_different_tracks_are_refused():
    rng = np.random.default_rng(1)
    other = run_of(rng, 0.5, 0.5)
    other["trained"]["beat"]["test_tracks"] = [f"x{i}" for i in range(len(STRATA))]
    with pytest.raises(ValueError, match="one corpus for every arm"):
        compare_arms({"a": [run_of(rng, 0.5, 0.5)], "b": [other]}, "a", n_resamples=100)


def test_run_ab_runs_every_arm_and_seed_as_a_demo_and_writes_the_table(tmp_path, monkeypatch):
    from vit1d.demo import DemoArguments

    rng = np.random.default_rng(2)
    calls = []

    def fake_demo(args):
        calls.append(args)
        folder = tmp_path / "ab" / f"{args.pretraining_args.split()[-1] if args.pretraining_args else 'raw'}"
        return folder

    fake_runs = {}

    def fake_load(folder):
        return fake_runs.setdefault(str(folder), run_of(rng, 0.6 if "frame" in str(folder) else 0.5, 0.45))

    monkeypatch.setattr("vit1d.demo.run_demo", fake_demo)
    monkeypatch.setattr(ab, "load_run", fake_load)
    demo = replace(DemoArguments(), output_dir=str(tmp_path / "ab"), pretraining_args="--gain_db 3")
    table = ab.run_ab(ab.ABArguments(arms=["raw=", "frame=--config_overrides frame_normalization=layer_norm"],
                                     pretraining_seeds="0,1"), demo)
    assert [(c.seed, c.output_dir.rsplit("/", 1)[-1], c.pretraining_args) for c in calls] == [
        (0, "raw-seed0", "--gain_db 3"), (0, "frame-seed0", "--gain_db 3 --config_overrides "
                                                           "frame_normalization=layer_norm"),
        (1, "raw-seed1", "--gain_db 3"), (1, "frame-seed1", "--gain_db 3 --config_overrides "
                                                           "frame_normalization=layer_norm")]
    text = table.read_text()
    assert "frame vs raw" in text and "| better |" in text
    record_ = json.loads((tmp_path / "ab" / "ab.json").read_text())
    assert record_["baseline"] == "raw" and record_["pretraining_seeds"] == [0, 1]
    beat = next(c for c in record_["comparisons"] if c["statement"] == "beat: trained encoders")
    assert beat["interval"]["num_seeds"] == {"frame": 6, "raw": 6}  # 2 pretraining seeds x 3 probe seeds


def test_runs_scored_earlier_are_compared_without_running_anything(tmp_path, monkeypatch):
    from vit1d.demo import DemoArguments

    rng = np.random.default_rng(3)
    folders = {}
    for arm in ("raw", "views"):
        for seed in (0, 1):
            folder = tmp_path / f"{arm}-{seed}" / "step-00001000"
            (folder / "probe").mkdir(parents=True)
            folders.setdefault(arm, []).append(folder)
    fake_runs = {str(f): run_of(rng, 0.6 if "views" in str(f) else 0.5, 0.45) for fs in folders.values() for f in fs}

    def no_demo(args):
        raise AssertionError("--scored must not run anything")

    monkeypatch.setattr("vit1d.demo.run_demo", no_demo)
    monkeypatch.setattr(ab, "load_run", lambda folder: fake_runs[str(folder)])
    specs = [f"{arm}={','.join(map(str, fs))}" for arm, fs in folders.items()]
    demo = replace(DemoArguments(), output_dir=str(tmp_path / "cmp"))
    text = ab.run_ab(ab.ABArguments(scored=specs), demo).read_text()
    assert "views vs raw" in text and "| better |" in text and str(folders["views"][1]) in text
    record_ = json.loads((tmp_path / "cmp" / "ab.json").read_text())
    assert record_["baseline"] == "raw" and record_["runs"]["views"] == [str(f) for f in folders["views"]]
    beat = next(c for c in record_["comparisons"] if c["statement"] == "beat: trained encoders")
    assert beat["interval"]["num_seeds"] == {"views": 6, "raw": 6}  # 2 runs x 3 probe seeds

    with pytest.raises(ValueError, match="holds no probe/ results"):
        ab.run_ab(ab.ABArguments(scored=[specs[0], f"none={tmp_path / 'missing'}"]), demo)
    with pytest.raises(ValueError, match="not both"):
        ab.run_ab(ab.ABArguments(arms=["a=", "b="], scored=specs), demo)
    with pytest.raises(ValueError, match="not one of the arms"):
        ab.run_ab(ab.ABArguments(scored=specs, baseline="other"), demo)

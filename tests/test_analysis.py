"""vit1d.analysis: onsets from attention, self-similarity summaries, figures, and run_analysis end to end."""

import json
import sys

import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config

import vit1d
from vit1d.analysis import figures as F
from vit1d.analysis.attention import (
    attention_maps,
    onset_scores,
    onset_strength,
    pick_onsets,
    track_onset_strength,
)
from vit1d.analysis.ssm import (
    beat_lag_contrast,
    beats_without_changes,
    boundary_alignment,
    checkerboard_kernel,
    chord_changes,
    novelty,
    self_similarity,
    ssm_for_layers,
    ssm_summary,
)

RATE = 31.25  # tokens per second


def token_times(num_tokens):
    return np.arange(num_tokens) * 512 / 16000


def attention_with_peaks(num_tokens, class_peaks, column_peaks, rng):
    """Row-stochastic attention `(1 + T, 1 + T)` whose class row peaks at `class_peaks` and whose columns are most
    attended at `column_peaks` (token indices), over a noisy floor."""
    logits = 0.1 * rng.standard_normal((1 + num_tokens, 1 + num_tokens))
    logits[0, 1 + np.asarray(class_peaks)] += 3.0
    logits[1:, 1 + np.asarray(column_peaks)] += 2.0
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


# -- onsets from attention ------------------------------------------------------------------------------------------


def test_onset_strength_modes_read_the_class_row_and_the_column_mean(rng):
    num_tokens = 60
    maps = attention_with_peaks(num_tokens, [10, 30], [20, 45], rng)[None, None]  # (1 layer, 1 head, ...)
    class_row = onset_strength(maps, "class_row")
    column_mean = onset_strength(maps, "column_mean")
    assert class_row.shape == column_mean.shape == (1, 1, num_tokens)
    assert set(np.argsort(class_row[0, 0])[-2:]) == {10, 30}
    assert set(np.argsort(column_mean[0, 0])[-2:]) == {20, 45}
    uniform = np.full((1 + num_tokens, 1 + num_tokens), 1 / (1 + num_tokens))
    for mode in ("class_row", "column_mean"):  # uniform attention reads 1 everywhere, whatever the length
        np.testing.assert_allclose(onset_strength(uniform, mode), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        onset_strength(maps, "row_max")


def test_pick_onsets_finds_known_peaks(rng):
    times = token_times(300)
    peaks = np.array([20, 51, 90, 130, 131 + 40, 250])
    curve = 0.05 * rng.random(300)
    for peak, height in zip(peaks, (1.0, 0.5, 2.0, 0.8, 0.6, 1.2)):
        curve += height * np.exp(-0.5 * ((np.arange(300) - peak) / 1.0) ** 2)
    np.testing.assert_allclose(pick_onsets(curve, times), times[peaks])
    # Two peaks one token apart are one onset (min_distance_seconds), the higher one.
    close = np.zeros(300)
    close[[100, 101]] = [1.0, 0.7]
    close[200] = 1.0
    np.testing.assert_allclose(pick_onsets(close, times), times[[100, 200]])
    assert len(pick_onsets(np.ones(300), times)) == 0


def test_onset_scores_on_constructed_attention_maps_recover_the_onsets(rng):
    num_tokens = 126
    times = token_times(num_tokens)
    onset_tokens = np.array([8, 25, 40, 63, 80, 101, 117])
    reference = np.concatenate([[0.0], times[onset_tokens] + 0.01])  # an onset on the first token: not scorable
    informative = attention_with_peaks(num_tokens, onset_tokens, onset_tokens, rng)
    shifted = attention_with_peaks(num_tokens, onset_tokens + 5, onset_tokens + 5, rng)  # 160 ms late: all wrong
    maps = np.stack([np.stack([informative, shifted])])  # (1 layer, 2 heads, ...)
    for mode in ("class_row", "column_mean"):
        scores = onset_scores(onset_strength(maps, mode), times, reference, window=0.05)
        assert scores["f_measure"].shape == (1, 2)
        assert scores["f_measure"][0, 0] == pytest.approx(1.0)  # the onset at 0 s is trimmed, not a miss
        assert scores["f_measure"][0, 1] == 0.0
    assert np.isnan(onset_scores(onset_strength(maps, "class_row"), times, [])["f_measure"]).all()


def test_track_strengths_match_single_windows_and_stitched_tokens_match_embed_long_audio():
    model = vit1d.ViT1DModel(tiny_config()).eval()
    extractor = vit1d.ViT1DFeatureExtractor(feature_size=16)
    audio = music_like(11.0)
    track = track_onset_strength(model, extractor, audio, 16000, token_layers=(1, 3))
    num_tokens = 1 + len(audio) // 512
    assert track.strengths["class_row"].shape == (3, 2, num_tokens)
    np.testing.assert_allclose(track.times, extractor.frame_times(num_tokens))
    assert track.spectral_flux.shape == (num_tokens,) and track.tokens[3].shape == (num_tokens, 32)

    # Tokens 0..93 come from the first window (hop 62 tokens): they equal that window analysed alone.
    maps, window_times = attention_maps(model, extractor, audio[:64000], 16000)
    assert maps.shape == (3, 2, 127, 127)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, rtol=1e-5)
    for mode in ("class_row", "column_mean"):
        np.testing.assert_allclose(track.strengths[mode][..., :90], onset_strength(maps, mode)[..., :90], atol=1e-4)

    ssms, times = ssm_for_layers(model, extractor, audio, layers=(1, 3), sampling_rate=16000)
    np.testing.assert_allclose(times, track.times)
    for layer in (1, 3):
        np.testing.assert_allclose(self_similarity(track.tokens[layer]), ssms[layer], atol=1e-4)


# -- self-similarity ------------------------------------------------------------------------------------------------


def block_tokens(rng, lengths, dim=16, noise=0.01):
    """Tokens in segments of one direction each (orthogonal directions): a block-diagonal SSM."""
    directions = np.linalg.qr(rng.standard_normal((dim, dim)))[0][: len(lengths)]
    tokens = np.concatenate([np.repeat(direction[None], length, axis=0) for direction, length in zip(directions,
                                                                                                     lengths)])
    return tokens + noise * rng.standard_normal(tokens.shape)


def test_self_similarity_of_block_tokens_is_block_diagonal(rng):
    tokens = block_tokens(rng, [40, 40, 40])
    ssm = self_similarity(torch.from_numpy(tokens))
    assert ssm.shape == (120, 120) and ssm.dtype == np.float32
    np.testing.assert_allclose(np.diag(ssm), 1.0, atol=1e-5)
    np.testing.assert_allclose(ssm, ssm.T, atol=1e-6)
    assert ssm[:40, :40].min() > 0.99 and np.abs(ssm[:40, 40:]).max() < 0.1
    centred = self_similarity(tokens + 10.0, center=True)  # a common offset is removed by centring
    assert centred[:40, 40:].max() < 0.0 < centred[:40, :40].min()


def test_novelty_peaks_at_block_boundaries_and_aligns_with_them(rng):
    tokens = block_tokens(rng, [50, 70, 60])
    ssm = self_similarity(tokens)
    kernel = checkerboard_kernel(8)
    assert kernel.shape == (16, 16) and np.isclose(np.abs(kernel).sum(), 1.0) and np.isclose(kernel.sum(), 0.0)
    curve = novelty(ssm, kernel_size=16)
    assert set(np.argsort(curve)[-2:]) == {50, 120}  # the first token of each new segment
    assert np.all(curve[:8] == 0) and np.all(curve[-7:] == 0)
    np.testing.assert_allclose(novelty(ssm, kernel_seconds=16 / RATE), curve)
    times = token_times(180)
    aligned = boundary_alignment(curve, times, times[[50, 120]], trim_seconds=8 / RATE)
    assert aligned["lift"] > 2.0 and aligned["f_measure"] == 1.0 and aligned["num_boundaries"] == 2
    elsewhere = boundary_alignment(curve, times, times[[30, 90, 150]], trim_seconds=8 / RATE)
    assert elsewhere["lift"] < 0.5 and elsewhere["f_measure"] == 0.0
    assert np.isnan(boundary_alignment(curve, times, [])["lift"])


def test_chord_changes_beats_and_beat_lag_contrast(rng):
    intervals = [[0, 2], [2, 4], [4, 6], [6, 8]]
    np.testing.assert_allclose(chord_changes(intervals, ["C:maj", "C:maj", "G:maj", "A:min"]), [4, 6])
    np.testing.assert_allclose(chord_changes(intervals), [2, 4, 6])
    np.testing.assert_allclose(beats_without_changes([0, 1, 2, 3, 4], [2.0], window=0.1), [0, 1, 3, 4])

    times = token_times(400)
    period = 16  # tokens per beat: tokens repeat every beat
    pattern = rng.standard_normal((period, 8))
    periodic = np.tile(pattern, (400 // period, 1))
    beats = times[::period]
    assert beat_lag_contrast(self_similarity(periodic), times, beats) > 0.5
    assert beat_lag_contrast(np.ones((400, 400)), times, beats) == pytest.approx(0.0)
    assert np.isnan(beat_lag_contrast(np.ones((400, 400)), times, [1.0]))

    summary = ssm_summary(self_similarity(block_tokens(rng, [100, 100, 100, 100])), token_times(400),
                          beats=token_times(400)[::25], changes=token_times(400)[[100, 200, 300]])
    assert summary["chord_change_lift"] > 1.0 > summary["beat_lift"]
    assert summary["num_chord_changes"] == 3 and summary["num_beats_without_changes"] == summary["num_beats"] - 3


# -- figures --------------------------------------------------------------------------------------------------------


def assert_png(path, min_width=300, min_height=150):
    from matplotlib.image import imread

    image = imread(path)
    assert image.shape[0] >= min_height and image.shape[1] >= min_width
    assert image[..., :3].std() > 0.02  # not blank


def test_figures_are_written_and_not_blank(tmp_path, rng):
    num_tokens = 126
    times = token_times(num_tokens)
    maps = np.stack([np.stack([attention_with_peaks(num_tokens, [10, 60], [30, 90], rng) for _ in range(2)])
                     for _ in range(3)])
    path = F.plot_attention_maps(maps, times, tmp_path / "figures" / "attention.png", layers=[1, 3])
    assert path == str(tmp_path / "figures" / "attention.png")
    assert_png(path)

    strength = onset_strength(maps, "class_row")
    path = F.plot_onset_curves({"layer 1, head 0": strength[0, 0], "layer 3, head 1": strength[2, 1]}, times,
                               times[[10, 60]], tmp_path / "onsets.png",
                               estimated_onsets={"layer 1, head 0": times[[10, 60]]})
    assert_png(path)

    ssms = {layer: self_similarity(block_tokens(rng, [40, 50, 36])) for layer in (3, 6, 9)}
    path = F.plot_ssm_grid(ssms, times, tmp_path / "ssm.png", beats=times[::16], chord_changes=times[[40, 90]])
    assert_png(path)

    probe_results = [
        {"model": "trained", "random_init": False, "results": [
            *({"task": "beat", "representation": "sequence", "layers": [layer],
               "metrics": {"F-measure": 0.5 + 0.02 * layer}} for layer in range(13)),
            {"task": "beat", "representation": "sequence", "layers": [3, 6, 9, 12], "metrics": {"F-measure": 0.8}},
        ]},
        {"model": "random", "random_init": True, "results": [
            {"task": "beat", "representation": "sequence", "layers": [layer], "metrics": {"F-measure": 0.4}}
            for layer in (0, 6, 12)]},
        {"model": "trained", "random_init": False, "results": [
            {"task": "key", "representation": representation, "layers": [12], "metrics": {"weighted_score": 0.6}}
            for representation in ("class", "average")]},
    ]
    assert_png(F.plot_probe_curves(probe_results, tmp_path / "probes.png"))
    with pytest.raises(ValueError, match="No probe result"):
        F.plot_probe_curves([{"model": "m", "results": []}], tmp_path / "none.png")


def test_figures_name_the_install_command_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install vit1d\[analysis\]"):
        F.plot_ssm_grid({3: np.eye(4)}, token_times(4), tmp_path / "ssm.png")


# -- run_analysis end to end ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_analysis_end_to_end_on_a_rendered_corpus(tmp_path):
    import run_analysis
    from vit1d.data.render import write_corpus

    corpus = tmp_path / "corpus"
    summary = write_corpus(corpus, pieces=4, seconds=8, seed=0)
    assert summary["splits"]["train"] >= 2  # two grooves, with onsets, beats and chords
    model_dir = tmp_path / "model"
    vit1d.ViT1DModel(tiny_config()).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor(feature_size=16).save_pretrained(model_dir)
    out = tmp_path / "analysis"
    probe_file = tmp_path / "probe_results.json"
    probe_file.write_text(json.dumps({"model": "tiny", "random_init": False, "results": [
        {"task": "chord", "representation": "sequence", "layers": [layer], "metrics": {"frame_accuracy": 0.1 * layer}}
        for layer in range(4)]}))

    results = run_analysis.main([
        "--model_name_or_path", str(model_dir), "--data", str(corpus), "--split", "train", "--max_tracks", "2",
        "--layers", "1,3", "--output_dir", str(out), "--probe_results", str(probe_file), "--device", "cpu",
    ])

    assert results["models"]["trained"] == str(model_dir) and "random_init" in results["models"]
    assert results["num_tracks"] == {"analysed": 2, "with_onsets": 2, "without_onsets": 0, "with_beats": 2,
                                     "with_chords": 2}
    assert results["layers"] == [1, 2, 3] and results["heads"] == [0, 1] and results["ssm_layers"] == [1, 3]
    for key in ("trained", "random_init"):
        for mode in ("class_row", "column_mean"):
            f = np.array(results["onsets"][key][mode]["f_measure"])
            assert f.shape == (3, 2) and np.all((f >= 0) & (f <= 1))
            assert results["onsets"][key][mode]["num_tracks"] == 2
        best = results["best_onsets"][key]
        assert best["mode"] in ("class_row", "column_mean") and 1 <= best["layer"] <= 3
        assert best["f_measure"] == pytest.approx(np.max([results["onsets"][key][m]["f_measure"] for m in
                                                          ("class_row", "column_mean")]), abs=1e-4)
        for layer in ("1", "3"):
            entry = results["ssm"][key][layer]
            assert entry["num_tracks"]["chord_change_lift"] == 2 and np.isfinite(entry["chord_change_lift"])
    assert results["onset_baseline"]["spectral_flux"]["f_measure"] > 0.5  # exact onsets of rendered grooves

    on_disk = json.loads((out / "analysis_results.json").read_text())
    assert on_disk["best_onsets"] == results["best_onsets"] and on_disk["markdown"] == results["markdown"]
    markdown = (out / "analysis_results.md").read_text()
    assert results["markdown"] in markdown and "#### class_row" in markdown and "| 3 |" in markdown
    assert "[figures/ssm_trained.png](figures/ssm_trained.png)" in markdown and "\n# " not in results["markdown"]
    assert set(results["figures"]) == {"attention_maps", "onset_curves", "ssm_trained", "ssm_random_init",
                                       "probe_curves"}
    for path in results["figures"].values():
        assert_png(out / path)


def test_run_analysis_without_a_model_analyses_a_random_paper_model_without_figures(tmp_path, monkeypatch):
    import soundfile as sf

    from vit1d.analysis.runner import AnalysisArguments, run_analysis

    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "a.wav", music_like(5.0), 16000)
    args = AnalysisArguments(model_name_or_path=None, data=str(folder), split="train", layers="last", figures=False,
                             output_dir=str(tmp_path / "out"), device="cpu")
    monkeypatch.setattr("vit1d.probing.runner.ViT1DConfig", lambda: tiny_config())
    monkeypatch.setattr("vit1d.probing.runner.ViT1DFeatureExtractor", lambda: vit1d.ViT1DFeatureExtractor(
        feature_size=16))
    results = run_analysis(args)
    assert list(results["models"]) == ["random_init"] and results["figures"] == {}
    assert results["onsets"] == {} and results["num_tracks"]["without_onsets"] == 1
    assert results["ssm_layers"] == [3] and np.isnan(results["ssm"]["random_init"]["3"]["chord_change_lift"])
    assert "No track has reference onsets" in results["markdown"]
    assert json.loads((tmp_path / "out" / "analysis_results.json").read_text())["ssm"]["random_init"]["3"][
        "chord_change_lift"] is None

"""vit1d.analysis: onsets from attention, self-similarity summaries, figures, and run_analysis end to end."""

import json
import sys

import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config

import vit1d
from vit1d.analysis import figures as analysis_figures
from vit1d.analysis.attention import (
    FLOORS,
    MODES,
    OnsetStrengths,
    attention_maps,
    noise_curves,
    onset_score_grid,
    onset_scores,
    onset_strength,
    pick_onsets,
    random_directions,
    random_projection_curves,
    spectral_flux,
    track_onset_strength,
)
from vit1d.analysis.runner import NO_SELECTION
from vit1d.analysis.ssm import (
    beat_lag_contrast,
    beat_lag_contrast_from_band,
    beats_without_changes,
    boundary_alignment,
    checkerboard_kernel,
    chord_changes,
    novelty,
    novelty_from_band,
    pooled_self_similarity,
    self_similarity,
    similarity_band,
    ssm_band,
    ssm_for_layers,
    ssm_summary,
    ssm_summary_from_tokens,
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


def full_reference_ssm(tokens, center=False):
    """The float64 cosine matrix, written out independently of the module."""
    z = np.asarray(tokens, dtype=np.float64)
    z = z - z.mean(axis=0) if center else z
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return z @ z.T


def reference_novelty(ssm, half):
    """Foote novelty the direct way: the kernel over the whole block around every diagonal entry."""
    kernel = checkerboard_kernel(half)
    out = np.zeros(len(ssm))
    for t in range(half, len(ssm) - half + 1):
        out[t] = np.sum(kernel * ssm[t - half : t + half, t - half : t + half])
    return out


def reference_beat_lag_contrast(ssm, times, beats, max_beats=4):
    """The beat-lag contrast the direct way, from whole diagonals of the span between the first and last beat."""
    beats = np.sort(beats)
    beat_tokens = np.median(np.diff(beats)) / np.median(np.diff(times))
    first, last = np.searchsorted(times, beats[0]), np.searchsorted(times, beats[-1], side="right")
    span = ssm[first:last, first:last]
    differences = []
    for k in range(1, max_beats + 1):
        on, off = int(round(k * beat_tokens)), int(round((k - 0.5) * beat_tokens))
        if 0 < min(on, off) and max(on, off) < len(span):
            differences.append(np.diagonal(span, on).mean() - np.diagonal(span, off).mean())
    return np.mean(differences)


@pytest.mark.parametrize("center", [False, True])
def test_band_measures_from_tokens_equal_the_full_matrix_ones(rng, center):
    num_tokens = 700
    # Segments, noisy, off-centre; float32 as hidden states are (the module reads tokens as float32).
    tokens = (block_tokens(rng, [150, 200, 120, 230], dim=24, noise=0.6) + 0.5).astype(np.float32)
    times = token_times(num_tokens)
    beats = np.arange(0.13, times[-1], 0.37)  # 11.8 tokens a beat: the lags round both ways
    changes = times[[150, 350, 470]] + 0.01
    full = full_reference_ssm(tokens, center)

    band = similarity_band(tokens, max_lag=60, center=center, block_size=128)  # several blocks
    assert band.shape == (num_tokens, 61)
    rows, lags = np.nonzero(np.ones_like(band, dtype=bool))
    inside = rows + lags < num_tokens
    np.testing.assert_allclose(band[rows[inside], lags[inside]], full[rows[inside], rows[inside] + lags[inside]],
                               atol=1e-12)
    assert np.isnan(band[rows[~inside], lags[~inside]]).all()  # past the end of the track
    np.testing.assert_allclose(ssm_band(full, 60), band, atol=1e-12)

    for half in (1, 8, 16):
        curve = novelty_from_band(band, kernel_size=2 * half)
        np.testing.assert_allclose(curve, reference_novelty(full, half), atol=1e-12)
        np.testing.assert_allclose(novelty(full, kernel_size=2 * half), curve, atol=1e-12)
    contrast = beat_lag_contrast_from_band(band, times, beats)
    assert contrast == pytest.approx(reference_beat_lag_contrast(full, times, beats), abs=1e-12)
    assert beat_lag_contrast(full, times, beats) == pytest.approx(contrast, abs=1e-12)
    with pytest.raises(ValueError, match="band of at least 64 lags"):
        novelty_from_band(band, kernel_size=64)

    for kernel_seconds in (0.3, 1.0):
        expected = ssm_summary(full, times, beats, changes, kernel_seconds=kernel_seconds)
        summary = ssm_summary_from_tokens(tokens, times, beats, changes, kernel_seconds=kernel_seconds, center=center)
        assert summary.keys() == expected.keys() and np.isfinite(summary["beat_lag_contrast"])
        for key, value in expected.items():
            assert summary[key] == pytest.approx(value, abs=1e-9), key
        # The float32 matrix of self_similarity differs only by its rounding.
        rounded = ssm_summary(self_similarity(tokens, center=center), times, beats, changes,
                              kernel_seconds=kernel_seconds)
        assert rounded["chord_change_lift"] == pytest.approx(summary["chord_change_lift"], abs=1e-4)


def test_linear_cka_is_one_for_the_same_geometry_and_low_for_unrelated_tokens(rng):
    from vit1d.analysis import linear_cka

    x = rng.normal(size=(400, 16))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    # Invariant to rotation, isotropic scaling and a shift of every token (the mean token is removed).
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0)
    assert linear_cka(torch.from_numpy(x).float(), x) == pytest.approx(1.0, abs=1e-6)
    unrelated = linear_cka(x, rng.normal(size=(400, 24)))
    assert 0.0 <= unrelated < 0.1
    half = np.concatenate([x[:, :8], rng.normal(size=(400, 8))], axis=1)  # shares half its directions with x
    assert unrelated < linear_cka(x, half) < 1.0
    assert np.isnan(linear_cka(np.ones((10, 4)), x[:10]))  # no variance: no geometry to compare
    with pytest.raises(ValueError, match="same T"):
        linear_cka(x, x[:-1])


def test_pooled_self_similarity_is_the_block_mean_of_the_full_matrix(rng):
    tokens = (block_tokens(rng, [20, 17, 13], dim=8, noise=0.3) + 0.2).astype(np.float32)
    times = token_times(50)
    for center in (False, True):
        full = full_reference_ssm(tokens, center)
        pooled, bin_times = pooled_self_similarity(torch.from_numpy(tokens), times, max_size=7, center=center)
        assert pooled.shape == (7, 7) and pooled.dtype == np.float32 and bin_times.shape == (7,)
        edges = np.arange(8) * 50 // 7  # bins of 7 or 8 tokens
        assert set(np.diff(edges)) == {7, 8}
        for i in range(7):
            assert bin_times[i] == pytest.approx(times[edges[i] : edges[i + 1]].mean())
            for j in range(7):
                block = full[edges[i] : edges[i + 1], edges[j] : edges[j + 1]]
                assert pooled[i, j] == pytest.approx(block.mean(), abs=1e-6)
        # No larger than the track: the matrix itself.
        same, same_times = pooled_self_similarity(tokens, times, max_size=50, center=center)
        np.testing.assert_array_equal(same, self_similarity(tokens, center=center))
        np.testing.assert_array_equal(same_times, times)
    assert pooled_self_similarity(tokens, times, max_size=1024)[0].shape == (50, 50)
    with pytest.raises(ValueError, match="times has 49"):
        pooled_self_similarity(tokens, times[:-1])


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
    path = analysis_figures.plot_attention_maps(maps, times, tmp_path / "figures" / "attention.png", layers=[1, 3])
    assert path == str(tmp_path / "figures" / "attention.png")
    assert_png(path)

    strength = onset_strength(maps, "class_row")
    path = analysis_figures.plot_onset_curves({"layer 1, head 0": strength[0, 0], "layer 3, head 1": strength[2, 1]}, times,
                               times[[10, 60]], tmp_path / "onsets.png",
                               estimated_onsets={"layer 1, head 0": times[[10, 60]]})
    assert_png(path)

    ssms = {layer: self_similarity(block_tokens(rng, [40, 50, 36])) for layer in (3, 6, 9)}
    path = analysis_figures.plot_ssm_grid(ssms, times, tmp_path / "ssm.png", beats=times[::16], chord_changes=times[[40, 90]])
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
    assert_png(analysis_figures.plot_probe_curves(probe_results, tmp_path / "probes.png"))
    with pytest.raises(ValueError, match="No probe result"):
        analysis_figures.plot_probe_curves([{"model": "m", "results": []}], tmp_path / "none.png")


def test_figures_name_the_install_command_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install vit1d\[analysis\]"):
        analysis_figures.plot_ssm_grid({3: np.eye(4)}, token_times(4), tmp_path / "ssm.png")


# -- run_analysis end to end ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_analysis_end_to_end_on_a_rendered_corpus(tmp_path):
    import run_analysis
    from vit1d.corpus.render import write_corpus

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
                                     "with_chords": 2, "skipped": 0}
    assert results["layers"] == [1, 2, 3] and results["heads"] == [0, 1] and results["ssm_layers"] == [1, 3]
    # The corpus of 4 pieces has no validation split: selected on the reported tracks, recorded as optimistic.
    assert results["selection"]["split"] == NO_SELECTION and "validation" in results["selection"]["reason"]
    assert results["random_init_seeds"] == [0, 1, 2]
    for key in ("trained", "random_init"):
        for mode in ("class_row", "column_mean"):
            f = np.array(results["onsets"][key][mode]["f_measure"])
            assert f.shape == (3, 2) and np.all((f >= 0) & (f <= 1))
            assert results["onsets"][key][mode]["num_tracks"] == 2
        best = results["best_onsets"][key]
        assert best["selected_on"] == NO_SELECTION
        for config in best["configs"]:
            assert config["mode"] in ("class_row", "column_mean") and 1 <= config["layer"] <= 3
        for layer in ("1", "3"):
            entry = results["ssm"][key][layer]
            assert entry["num_tracks"]["chord_change_lift"] == 2 and np.isfinite(entry["chord_change_lift"])
            assert set(results["ssm_ci"][key][layer]) >= {"chord_change_lift", "beat_lift", "beat_lag_contrast",
                                                          "cka_to_deepest"}
            cka = np.array(results["per_track"]["ssm"][key][layer]["cka_to_deepest"])
            assert np.all((cka > 0) & (cka <= 1 + 1e-9))
            if layer == "3":  # the deepest SSM layer is alike itself
                assert np.allclose(cka, 1.0)
            assert np.shape(results["per_track"]["ssm"][key][layer]["beat_lag_contrast"]) == (
                1 if key == "trained" else 3, 2)
    # One trained model chosen on the reported tracks: its test F is the best cell of its tables (optimistic).
    best = results["best_onsets"]["trained"]
    assert best["f_measure"] == pytest.approx(np.max([results["onsets"]["trained"][m]["f_measure"] for m in
                                                      ("class_row", "column_mean")]), abs=1e-4)
    assert results["onset_floors"]["spectral_flux"]["f_measure"] > 0.5  # exact onsets of rendered grooves
    assert results["onsets_ci"]["selected"]["random_init"]["num_seeds"] == 3
    on_disk = json.loads((out / "analysis_results.json").read_text())
    assert on_disk["best_onsets"] == results["best_onsets"] and on_disk["markdown"] == results["markdown"]
    markdown = (out / "analysis_results.md").read_text()
    assert results["markdown"] in markdown and "#### class_row" in markdown and "| 3 |" in markdown
    assert "[figures/ssm_trained.png](figures/ssm_trained.png)" in markdown and "\n# " not in results["markdown"]
    assert set(results["figures"]) == {"attention_maps", "onset_curves", "ssm_trained", "ssm_random_init",
                                       "probe_curves"}
    assert "No selection split" in markdown and "optimistic" in markdown
    for path in results["figures"].values():
        assert_png(out / path)


def audio_folder(tmp_path, seconds=5.0):
    """A folder with one track and no labels: the `train` split of an audio folder."""
    import soundfile as sf

    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "a.wav", music_like(seconds), 16000)
    return folder


def use_tiny_paper_model(monkeypatch):
    """Make "a random paper model" (no model_name_or_path) a tiny one."""
    monkeypatch.setattr("vit1d.loading.ViT1DConfig", lambda: tiny_config())
    monkeypatch.setattr("vit1d.loading.ViT1DFeatureExtractor", lambda: vit1d.ViT1DFeatureExtractor(
        feature_size=16))


def test_run_analysis_without_a_model_analyses_a_random_paper_model_without_figures(tmp_path, monkeypatch):
    from vit1d.analysis.runner import AnalysisArguments, run_analysis

    args = AnalysisArguments(model_name_or_path=None, data=str(audio_folder(tmp_path)), split="train", layers="last",
                             figures=False, output_dir=str(tmp_path / "out"), device="cpu")
    use_tiny_paper_model(monkeypatch)
    results = run_analysis(args)
    assert list(results["models"]) == ["random_init"] and results["figures"] == {}
    assert results["onsets"] == {} and results["num_tracks"]["without_onsets"] == 1
    assert results["best_onsets"] == {} and results["onset_floors"] == {} and results["onsets_ci"] == {}
    assert results["selection"]["split"] == NO_SELECTION  # an audio folder without split folders: no validation
    assert results["ssm_layers"] == [3] and np.isnan(results["ssm"]["random_init"]["3"]["chord_change_lift"])
    assert "No track has reference onsets" in results["markdown"]
    assert json.loads((tmp_path / "out" / "analysis_results.json").read_text())["ssm"]["random_init"]["3"][
        "chord_change_lift"] is None


def test_run_analysis_writes_results_before_figures_and_a_failing_figure_keeps_them(tmp_path, monkeypatch, caplog):
    from vit1d.analysis.runner import AnalysisArguments, run_analysis

    out = tmp_path / "out"
    use_tiny_paper_model(monkeypatch)
    draw_attention = analysis_figures.plot_attention_maps

    def attention_after_results(*args, **kwargs):  # the first figure: the numbers must already be on disk
        on_disk = json.loads((out / "analysis_results.json").read_text())
        assert on_disk["ssm"]["random_init"]["3"]["num_tracks"] and on_disk["figures"] == {}
        assert (out / "analysis_results.md").is_file()
        return draw_attention(*args, **kwargs)

    def broken(*args, **kwargs):
        raise RuntimeError("no room for this figure")

    monkeypatch.setattr(analysis_figures, "plot_attention_maps", attention_after_results)
    monkeypatch.setattr(analysis_figures, "plot_ssm_grid", broken)
    args = AnalysisArguments(model_name_or_path=None, data=str(audio_folder(tmp_path)), split="train", layers="last",
                             output_dir=str(out), device="cpu")
    with caplog.at_level("WARNING", logger="vit1d.analysis.runner"):
        results = run_analysis(args)

    assert results["figures"] == {"attention_maps": "figures/attention_maps.png"}  # drawn after the failure too
    assert_png(out / "figures" / "attention_maps.png")
    assert results["figure_errors"] == {"ssm_random_init": "RuntimeError: no room for this figure"}
    assert "Figure ssm_random_init was not drawn: RuntimeError: no room for this figure" in caplog.text
    on_disk = json.loads((out / "analysis_results.json").read_text())  # rewritten with the figures and the error
    assert on_disk["figures"] == results["figures"] and on_disk["figure_errors"] == results["figure_errors"]
    assert on_disk["markdown"] == results["markdown"] and "3" in on_disk["ssm"]["random_init"]
    assert set(on_disk["timings"]) == {"model_seconds", "selection_seconds", "figure_seconds", "total_seconds"}
    assert "[figures/attention_maps.png]" in (out / "analysis_results.md").read_text()


def test_run_analysis_of_a_long_track_builds_no_track_by_track_matrix(tmp_path, monkeypatch):
    """Five minutes (9376 tokens) with beats and chords, both models, figures: the traced numpy memory stays below one
    float32 `T x T` matrix (351 MB), where the full-matrix analysis built several (and a float64 one per layer)."""
    import tracemalloc

    import matplotlib.figure  # noqa: F401  imported before tracing, so that module code is not counted
    import mir_eval  # noqa: F401
    import soundfile as sf

    from vit1d.analysis import ssm
    from vit1d.analysis.runner import SSM_DISPLAY_SIZE, AnalysisArguments, run_analysis

    seconds, rate = 300.0, 16000
    sf.write(tmp_path / "long.wav", music_like(seconds, rate, seed=3), rate)
    starts = np.arange(0.0, seconds, 2.0)
    row = {"audio": "long.wav", "beats": np.arange(0.0, seconds, 0.5).tolist(),
           "chord_intervals": np.stack([starts, starts + 2.0], axis=1).tolist(),
           "chord_labels": [("C:maj", "A:min", "F:maj", "G:maj")[i % 4] for i in range(len(starts))]}
    (tmp_path / "tracks.jsonl").write_text(json.dumps(row) + "\n")
    model_dir = tmp_path / "model"
    vit1d.ViT1DModel(tiny_config()).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor(feature_size=16).save_pretrained(model_dir)
    num_tokens = 1 + int(seconds * rate) // 512

    full_matrix = ssm.self_similarity

    def display_sized(tokens, center=False):
        assert len(tokens) <= SSM_DISPLAY_SIZE, f"a {len(tokens)} x {len(tokens)} self-similarity matrix"
        return full_matrix(tokens, center)

    monkeypatch.setattr(ssm, "self_similarity", display_sized)
    # One random initialisation: this test is about memory, and each seed would add a pass over five minutes.
    args = AnalysisArguments(model_name_or_path=str(model_dir), data=str(tmp_path / "tracks.jsonl"), split="train",
                             layers="1,3", output_dir=str(tmp_path / "out"), device="cpu", random_init_seeds="0")
    tracemalloc.start()
    try:
        results = run_analysis(args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < num_tokens**2 * 4, f"traced peak {peak / 2**20:.0f} MB"
    assert set(results["figures"]) == {"attention_maps", "ssm_trained", "ssm_random_init"}
    for key in ("trained", "random_init"):
        entry = results["ssm"][key]["3"]
        assert np.isfinite(entry["beat_lag_contrast"]) and np.isfinite(entry["chord_change_lift"])
        assert entry["num_events"]["num_chord_changes"] == len(starts) - 1
    assert_png(tmp_path / "out" / "figures" / "ssm_trained.png")


def test_run_analysis_skips_and_names_an_unreadable_track_and_the_time_of_its_nan(tmp_path, monkeypatch, caplog):
    import soundfile as sf

    from vit1d.analysis.runner import AnalysisArguments, run_analysis

    folder = audio_folder(tmp_path)
    nan = music_like(30.0)
    nan[20 * 16000 + 800 : 21 * 16000] = np.nan
    sf.write(folder / "b_nan.wav", nan, 16000, subtype="FLOAT")
    (folder / "c_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    use_tiny_paper_model(monkeypatch)
    args = AnalysisArguments(data=str(folder), split="train", layers="last", figures=False,
                             output_dir=str(tmp_path / "out"), device="cpu")
    with caplog.at_level("WARNING", logger="vit1d.analysis.runner"):
        results = run_analysis(args)
    assert results["tracks"] == ["a.wav"] and results["num_tracks"]["skipped"] == 2
    assert results["skipped_tracks"]["b_nan.wav"] == "NaN or infinite samples from 20.05 s"
    assert "could not decode" in results["skipped_tracks"]["c_broken.wav"]
    assert "2 could not be read and were skipped" in results["markdown"]
    assert any("b_nan.wav" in message and "20.05 s" in message for message in caplog.messages)
    (folder / "a.wav").unlink()
    (folder / "b_nan.wav").unlink()
    with pytest.raises(ValueError, match="No track of the 'train' split .* could be read: c_broken.wav"):
        run_analysis(args)


# -- onset floors, selection on validation, intervals ---------------------------------------------------------------


def synthetic_onsets(seconds, rate=16000):
    """The note onsets of `music_like(seconds)`: every 0.25 s, but for the note its silent gap in the middle mutes."""
    middle = int(seconds * rate) // 2 / rate
    return [float(t) for t in np.arange(0.0, seconds, 0.25) if not middle <= t < middle + 0.25]


def spikes_at(times, events):
    """A curve of zeros with a 1 on the token nearest each event."""
    curve = np.zeros(len(times))
    curve[np.abs(np.asarray(times)[:, None] - np.asarray(events)[None]).argmin(axis=0)] = 1.0
    return curve


def onset_dataset(tmp_path, splits=(("validation", 3, 5.0), ("test", 3, 6.0))):
    """A folder of manifests (`validation.jsonl`, `test.jsonl`) over `music_like` tracks with their onsets and beats:
    `(split, tracks, seconds)`; by default 5 s validation tracks and 6 s test tracks."""
    import soundfile as sf

    folder = tmp_path / "onset_data"
    (folder / "audio").mkdir(parents=True)
    for split, count, seconds in splits:
        rows = []
        for index in range(count):
            path = f"audio/{split}_{index}.wav"
            sf.write(folder / path, music_like(seconds, seed=index + 10 * len(split)), 16000)
            rows.append({"audio": path, "onsets": synthetic_onsets(seconds),
                         "beats": np.arange(0.0, seconds, 0.5).tolist()})
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def tiny_model_dir(tmp_path):
    torch.manual_seed(123)  # not the weights of any random-init seed
    model_dir = tmp_path / "model"
    vit1d.ViT1DModel(tiny_config()).save_pretrained(model_dir)
    vit1d.ViT1DFeatureExtractor(feature_size=16).save_pretrained(model_dir)
    return model_dir


def test_onset_score_grid_equals_onset_scores_at_each_threshold_and_a_perfect_curve_scores_one(rng):
    times = token_times(200)
    reference = times[[20, 45, 70, 101, 150, 180]] + 0.005
    curves = np.stack([spikes_at(times, reference), rng.random(200), np.ones(200)])
    thresholds = [0.02, 0.05, 0.1, 0.2]
    grid = onset_score_grid(curves, times, reference, thresholds)
    assert grid["f_measure"].shape == (4, 3)
    np.testing.assert_array_equal(grid["f_measure"][:, 0], 1.0)  # the reference itself, at every threshold
    np.testing.assert_array_equal(grid["f_measure"][:, 2], 0.0)  # a flat curve has no peak
    for index, threshold in enumerate(thresholds):
        single = onset_scores(curves, times, reference, threshold=threshold)
        for name in ("f_measure", "precision", "recall"):
            np.testing.assert_array_equal(grid[name][index], single[name])
    assert np.isnan(onset_score_grid(curves, times, [], [0.05])["f_measure"]).all()


def test_onset_floors_are_deterministic_and_score_known_values_on_constructed_inputs():
    from vit1d.analysis.runner import AnalysisArguments, floor_curves

    times = token_times(250)
    onset_tokens = [15, 40, 77, 110, 160, 200, 230]
    reference = times[onset_tokens]
    envelope = np.zeros(250)  # dB-like frames that jump at every onset and decay after it
    for token in onset_tokens:
        envelope[token:] += 30.0 * np.exp(-np.arange(250 - token) / 4.0)
    frames = (-80.0 + envelope[:, None] + np.linspace(0.0, 20.0, 16)[None]).astype(np.float32)
    strengths = OnsetStrengths({}, times, spectral_flux(frames), frames=frames[:, None, :])
    args = AnalysisArguments(floor_draws=3, seed=4)
    curves = floor_curves(args, strengths, "audio/a.wav")
    assert {name: curve.shape for name, curve in curves.items()} == {
        "noise": (3, 250), "random_projection": (3, 250), "spectral_flux": (1, 250)}
    assert set(curves) == set(FLOORS)
    # Spectral flux of frames that rise exactly at the onsets finds every onset.
    assert onset_score_grid(curves["spectral_flux"], times, reference, [0.05])["f_measure"][0, 0] == 1.0
    # The random projection is the frames times unit vectors over the mel bins, the same for every track.
    directions = random_directions(16, 3, seed=4)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    np.testing.assert_allclose(curves["random_projection"], directions @ frames.T, rtol=1e-5, atol=1e-3)
    patches = np.repeat(frames[:, None, :], 2, axis=1)  # two frames per token: the mean of their projections
    np.testing.assert_allclose(random_projection_curves(patches, 3, seed=4), curves["random_projection"], rtol=1e-6)
    # Frames that vary only along a draw's own direction project onto the onsets themselves: F = 1 for that draw.
    aligned = np.outer(spikes_at(times, reference), directions[1])
    assert onset_score_grid(random_projection_curves(aligned, 3, seed=4)[1], times, reference,
                            [0.05])["f_measure"][0] == 1.0
    # Noise: uniform, deterministic for (seed, track), different across tracks and seeds.
    assert curves["noise"].min() >= 0.0 and curves["noise"].max() < 1.0
    again = floor_curves(args, strengths, "audio/a.wav")
    for name in FLOORS:
        np.testing.assert_array_equal(again[name], curves[name])
    other_track = floor_curves(args, strengths, "audio/b.wav")
    assert not np.array_equal(other_track["noise"], curves["noise"])
    np.testing.assert_array_equal(other_track["random_projection"], curves["random_projection"])
    other_seed = floor_curves(AnalysisArguments(floor_draws=3, seed=5), strengths, "audio/a.wav")
    assert not np.array_equal(other_seed["noise"], curves["noise"])
    assert not np.array_equal(other_seed["random_projection"], curves["random_projection"])
    np.testing.assert_array_equal(noise_curves(250, 3, 4, "audio/a.wav"), curves["noise"])
    noise_f = onset_score_grid(curves["noise"], times, reference, [0.05])["f_measure"]
    assert np.all((noise_f > 0.0) & (noise_f < 0.5))


def test_select_configuration_takes_the_argmax_of_the_selection_grid_and_ties_go_first():
    from vit1d.analysis.runner import select_configuration, select_threshold

    thresholds = [0.02, 0.05, 0.1]
    grids = {mode: np.full((3, 3, 2), 0.4) for mode in MODES}
    grids["column_mean"][1, 2, 0] = 0.9
    grids["class_row"][0, 0, 1] = np.nan  # a cell without a score is never chosen
    assert select_configuration(grids, thresholds) == {
        "mode": "column_mean", "layer": 3, "head": 0, "threshold": 0.05, "threshold_index": 1,
        "selection_f_measure": 0.9}
    grids["class_row"][2, 1, 1] = 0.9  # a tie: the first mode wins
    assert select_configuration(grids, thresholds)["mode"] == "class_row"
    assert select_configuration({mode: np.full((3, 3, 2), np.nan) for mode in MODES}, thresholds) is None
    assert select_threshold([0.3, np.nan, 0.5], thresholds) == {"threshold": 0.1, "threshold_index": 2,
                                                                "selection_f_measure": 0.5}
    with pytest.raises(ValueError, match="random_init_seeds"):
        from vit1d.analysis.runner import AnalysisArguments

        AnalysisArguments(random_init_seeds="0,0")


def test_selection_reads_only_the_validation_split_and_the_test_split_once_after_it(tmp_path, monkeypatch):
    from vit1d.analysis import runner

    data = onset_dataset(tmp_path)
    opened, chosen = [], []
    open_tracks, choose = runner.open_tracks, runner.choose_configurations

    def sentinel_open(data, split, *args, **kwargs):
        opened.append(split)
        if split == "test" and not chosen:
            raise AssertionError("the test split was opened before the selection had finished")
        return open_tracks(data, split, *args, **kwargs)

    def recorded_choose(scores, thresholds):
        assert scores.split == "validation" and all(name.startswith("audio/validation_") for name in scores.names)
        chosen.append(choose(scores, thresholds))
        return chosen[-1]

    monkeypatch.setattr(runner, "open_tracks", sentinel_open)
    monkeypatch.setattr(runner, "choose_configurations", recorded_choose)
    args = runner.AnalysisArguments(model_name_or_path=str(tiny_model_dir(tmp_path)), data=str(data), layers="last",
                                    figures=False, output_dir=str(tmp_path / "out"), device="cpu")
    results = runner.run_analysis(args)

    assert opened == ["validation", "test"] and len(chosen) == 1  # the test split: opened once, after selection
    selection = results["selection"]
    assert selection["split"] == "validation" and selection["reason"] == ""
    assert selection["tracks"] == [f"audio/validation_{index}.wav" for index in range(3)]
    assert results["tracks"] == [f"audio/test_{index}.wav" for index in range(3)]
    # Each model's configuration is the argmax of its mean F over the validation tracks (the recorded grid).
    assert [(record["arm"], record["seed"]) for record in selection["models"]] == [
        ("trained", None), ("random_init", 0), ("random_init", 1), ("random_init", 2)]
    for record in selection["models"]:
        grid = np.stack([np.array(record["f_measure_grid"][mode], dtype=float) for mode in MODES])
        mode, threshold, layer, head = np.unravel_index(np.nanargmax(grid), grid.shape)
        assert (record["mode"], record["threshold"], record["layer"], record["head"]) == (
            MODES[mode], args.thresholds[threshold], layer + 1, head)
        assert record["selection_f_measure"] == np.nanmax(grid)
    # The trained model's reported F is its test mean at that configuration.
    best, trained = results["best_onsets"]["trained"], selection["models"][0]
    assert best["selected_on"] == "validation"
    assert [best[key] for key in ("mode", "layer", "head", "threshold")] == [
        trained[key] for key in ("mode", "layer", "head", "threshold")]
    per_track = np.array(results["per_track"]["onsets"]["trained"]["f_measure"])
    assert per_track.shape == (1, 3) and best["f_measure"] == pytest.approx(per_track.mean())
    assert best["f_measure"] == pytest.approx(
        results["onsets"]["trained"][best["mode"]]["f_measure"][best["layer"] - 1][best["head"]], abs=1e-4)
    # The random arm: three initialisations, each with its own configuration; intervals over tracks x seeds.
    random = results["best_onsets"]["random_init"]
    assert [config["seed"] for config in random["configs"]] == [0, 1, 2] and "mode" not in random
    assert np.shape(results["per_track"]["onsets"]["random_init"]["f_measure"]) == (3, 3)
    assert np.shape(results["per_track"]["onset_f_measure_by_layer"]["random_init"]["class_row"]) == (3, 3, 3)
    ci = results["onsets_ci"]
    assert ci["selected"]["random_init"]["num_seeds"] == 3 and ci["selected"]["random_init"]["num_tracks"] == 3
    assert ci["selected"]["trained"]["num_seeds"] == 1 and best["ci95"]["f_measure"] == ci["selected"]["trained"]
    for entry in ci["selected"].values():
        assert entry["low"] <= entry["value"] <= entry["high"]
    # Floors with per-track scores and intervals, and every difference with its p-value.
    assert set(results["onset_floors"]) == set(FLOORS)
    for floor, record in results["onset_floors"].items():
        assert len(record["per_track"]["f_measure"]) == 3 and record["threshold"] in args.thresholds
        assert record["threshold"] == selection["floors"][floor]["threshold"]
        assert record["ci95"]["f_measure"] == ci["selected"][floor]
        assert record["f_measure"] == pytest.approx(np.mean(record["per_track"]["f_measure"]))
    assert set(ci["differences"]) == {"trained - random_init", *(f"{arm} - {floor}" for arm in ("trained",
                                                                                                "random_init")
                                                                    for floor in FLOORS)}
    for entry in ci["differences"].values():
        assert entry["low"] <= entry["value"] <= entry["high"] and 0 < entry["p_value"] <= 1
    difference = ci["differences"]["trained - noise"]
    assert difference["value"] == pytest.approx(best["f_measure"] - results["onset_floors"]["noise"]["f_measure"])
    assert difference["num_seeds"] == {"trained": 1, "noise": 1}
    assert ci["differences"]["trained - random_init"]["num_seeds"] == {"trained": 1, "random_init": 3}
    assert results["onset_floors"]["spectral_flux"]["f_measure"] > results["onset_floors"]["noise"]["f_measure"]
    # Self-similarity: per-track values (seeds, tracks) and an interval per arm and layer.
    assert np.shape(results["per_track"]["ssm"]["random_init"]["3"]["beat_lift"]) == (3, 3)
    assert results["ssm_ci"]["random_init"]["3"]["beat_lift"]["num_seeds"] == 3
    on_disk = json.loads((tmp_path / "out" / "analysis_results.json").read_text())
    assert on_disk["onsets_ci"] == ci and on_disk["per_track"]["tracks"] == results["tracks"]
    markdown = results["markdown"]
    assert "Selection on the `validation` split (3 track(s) with onsets), before the `test` split was read" in markdown
    assert "| trained - random_init |" in markdown and "| floor: noise" in markdown


def test_the_reported_f_is_the_validation_choice_at_its_test_mean_not_the_test_argmax(tmp_path, monkeypatch):
    from vit1d.analysis import runner

    extractor = vit1d.ViT1DFeatureExtractor(feature_size=16)

    def constructed(model, feature_extractor, waveform, sampling_rate, token_layers=(), **kwargs):
        """Class-row curves that find every onset at layer 2, head 0 of the 5 s validation tracks and at layer 3,
        head 1 of the 6 s test tracks; noise everywhere else."""
        num_tokens = 1 + len(waveform) // 512
        times = extractor.frame_times(num_tokens)
        seconds = len(waveform) / sampling_rate
        noise = np.random.default_rng(len(waveform)).random((3, 2, num_tokens))
        class_row = noise.copy()
        class_row[(1, 0) if seconds < 5.5 else (2, 1)] = spikes_at(times, synthetic_onsets(seconds))
        tokens = {layer: np.random.default_rng(layer).standard_normal((num_tokens, 8)) for layer in token_layers}
        return OnsetStrengths({"class_row": class_row, "column_mean": noise[::-1].copy()}, times,
                              np.zeros(num_tokens, np.float32), tokens, np.zeros((num_tokens, 1, 16), np.float32))

    monkeypatch.setattr(runner, "track_onset_strength", constructed)
    args = runner.AnalysisArguments(model_name_or_path=str(tiny_model_dir(tmp_path)), data=str(onset_dataset(tmp_path)),
                                    layers="last", figures=False, random_init_seeds="0",
                                    output_dir=str(tmp_path / "out"), device="cpu")
    results = runner.run_analysis(args)

    for arm in ("trained", "random_init"):
        best = results["best_onsets"][arm]
        assert (best["mode"], best["layer"], best["head"]) == ("class_row", 2, 0)
        assert best["configs"][0]["selection_f_measure"] == 1.0
        table = np.array(results["onsets"][arm]["class_row"]["f_measure"])
        assert table[2, 1] == 1.0  # the test split's best cell: not what is reported
        assert best["f_measure"] == pytest.approx(table[1, 0], abs=1e-4) and best["f_measure"] < 0.8


def test_without_a_selection_split_the_choice_is_made_on_the_reported_tracks_and_says_so(tmp_path, monkeypatch,
                                                                                         caplog):
    from vit1d.analysis import runner

    data = onset_dataset(tmp_path, splits=(("test", 2, 5.0),))  # no validation manifest
    opened = []
    open_tracks = runner.open_tracks

    def recorded_open(data, split, *args, **kwargs):
        opened.append(split)
        return open_tracks(data, split, *args, **kwargs)

    monkeypatch.setattr(runner, "open_tracks", recorded_open)
    args = runner.AnalysisArguments(model_name_or_path=str(tiny_model_dir(tmp_path)), data=str(data), layers="last",
                                    figures=False, random_init_seeds="0,1", output_dir=str(tmp_path / "out"),
                                    device="cpu")
    with caplog.at_level("WARNING", logger="vit1d.analysis.runner"):
        results = runner.run_analysis(args)

    assert opened == ["validation", "test"]
    selection = results["selection"]
    assert selection["split"] == NO_SELECTION == "none: selected on the reported tracks (optimistic)"
    assert "no 'validation' split" in selection["reason"] and selection["tracks"] == []
    assert any("No selection split" in message and "optimistic" in message for message in caplog.messages)
    best = results["best_onsets"]["trained"]
    assert best["selected_on"] == NO_SELECTION and results["onset_floors"]["noise"]["selected_on"] == NO_SELECTION
    table = np.stack([results["onsets"]["trained"][mode]["f_measure"] for mode in MODES])
    assert best["f_measure"] == pytest.approx(table.max(), abs=1e-4)  # chosen on these tracks: their best cell
    assert results["onsets_ci"]["selected"]["random_init"]["num_seeds"] == 2
    assert "**No selection split**" in results["markdown"]
    # One manifest file (its rows are any split's), --selection_split none, or the reported split itself: nothing
    # to select on, and nothing is opened to find out.
    opened.clear()
    for data_path, options in ((data / "test.jsonl", {}), (data, {"selection_split": "none"}),
                               (data, {"selection_split": "test"})):
        source, rows, reason = runner._selection_source(runner.AnalysisArguments(**options), str(data_path))
        assert source is None and rows == [] and reason
    assert opened == []


def test_a_few_analysed_tracks_cover_every_stratum(tmp_path):
    """The built-in corpus lists its rows source by source: `read_split` takes the strata in turn, not the first."""
    from vit1d.analysis import runner

    folder = tmp_path / "data"
    (folder / "test").mkdir(parents=True)
    rows = [{"audio_path": f"test/{stratum}{i}.flac", "stratum": stratum} for stratum in ("easy", "metrical", "tune")
            for i in range(4)]
    (folder / "test" / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    _, picked = runner.read_split(str(folder), "test", None, 5)
    assert [row["audio_path"] for row in picked] == ["test/easy0.flac", "test/metrical0.flac", "test/tune0.flac",
                                                     "test/easy1.flac", "test/metrical1.flac"]
    for row in rows:
        row.pop("stratum")  # data without strata: the first rows, as listed
    (folder / "test" / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert [row["audio_path"] for row in runner.read_split(str(folder), "test", None, 3)[1]] == [
        "test/easy0.flac", "test/easy1.flac", "test/easy2.flac"]

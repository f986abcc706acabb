"""The headroom check: the contextual reference trains on log-mel frames, the qualifying rule per stratum, and claims
that a stratum without headroom cannot test."""

import numpy as np
import pytest
import torch

import vit1d
from vit1d.claims import probe_claims
from vit1d.probing.extraction import ExtractionSettings, log_mel_embeddings
from vit1d.probing.headroom import ContextualReference, ReferenceConfig, headroom, train_reference
from vit1d.probing.tasks import TaskData


def test_the_reference_sees_eight_seconds_of_context():
    model = ContextualReference(128, 1)
    frames = torch.zeros(1, 400, 128)
    frames[0, 200] = torch.randn(128)  # one frame differs: the outputs it reaches are the receptive field
    base = model(torch.zeros(1, 400, 128))[0, :, 0]
    changed = (model(frames)[0, :, 0] - base).abs() > 1e-7
    reach = np.flatnonzero(changed.numpy())
    assert reach.min() == 200 - 124 and reach.max() == 200 + 124  # 249 frames, about 8 s at 31.25 per second
    assert sum(p.numel() for p in model.parameters()) < 200_000


def clicks(seconds, period, offset, sr=16000, seed=0):
    """A click on every beat and, as loud, on every half beat: a frame alone cannot tell the beat."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
    beats = np.arange(offset, seconds - 0.1, period)
    for t in np.concatenate([beats, beats + period / 2]):
        start = int(t * sr)
        click = np.hanning(160).astype(np.float32)[: len(audio) - start]
        audio[start : start + len(click)] += 0.8 * click
    return audio, beats


def split(seeds, period=0.5):
    extractor = vit1d.ViT1DFeatureExtractor()
    settings = ExtractionSettings(sequence_tokens=True)
    tracks = [clicks(12.0, period, 0.1 + 0.05 * seed, seed=seed) for seed in seeds]
    return TaskData([log_mel_embeddings(extractor, audio, settings) for audio, _ in tracks],
                    [beats for _, beats in tracks])


def test_train_reference_scores_test_tracks_per_track():
    outcome = train_reference("beat", split(range(4)), split([10, 11]), split([20, 21, 22]),
                              ReferenceConfig(steps=60, eval_every=30, crop_frames=200))
    assert set(outcome.per_track) == {"F-measure", "Correct Metric Level Total", "Any Metric Level Total"}
    assert len(outcome.per_track["F-measure"]) == 3 and 0.0 <= outcome.metrics["F-measure"] <= 1.0
    assert outcome.best_step in (30, 60) and "threshold" in outcome.extra
    with pytest.raises(ValueError, match="beat and chord"):
        train_reference("key", None, None, None)


def record(values, weights=None):
    return {"per_track": {"F-measure": [values]}, "track_weights": weights}


def test_headroom_qualifies_strata_by_the_gap():
    strata = ["metrical"] * 3 + ["easy"] * 3
    reference = record([0.9, 0.9, 0.9, 0.95, 0.95, 0.95])
    floor = record([0.6, 0.6, 0.6, 0.9, 0.9, 0.9])
    checks = headroom("beat", reference, floor, strata)
    assert checks["metrical"]["gap"] == pytest.approx(0.3) and checks["metrical"]["qualifies"]
    assert checks["easy"]["gap"] == pytest.approx(0.05) and not checks["easy"]["qualifies"]
    assert set(headroom("beat", reference, floor, [None] * 6)) == {"all"}


def test_claims_on_a_stratum_without_headroom_are_not_tested():
    rng = np.random.default_rng(0)
    strata = ["metrical"] * 10 + ["easy"] * 10

    def beat_results(level, room):
        records = [{"representation": "sequence", "layers": [layer], "validation": [{"F-measure": 0.5}],
                    "per_track": {"F-measure": np.clip(level + rng.normal(0, 0.05, (1, 20)), 0, 1).tolist()}}
                   for layer in (3, 6, 9, 12)]
        checks = {"metrical": {"contextual": 0.9, "frame_floor": 0.9 - room, "gap": room, "qualifies": room >= 0.15,
                               "minimum": 0.15, "num_tracks": 10},
                  "easy": {"contextual": 0.95, "frame_floor": 0.94, "gap": 0.01, "qualifies": False, "minimum": 0.15,
                           "num_tracks": 10}}
        return {"results": records, "test_tracks": list(range(20)), "test_strata": strata, "headroom": checks}

    for room, testable in ((0.3, True), (0.05, False)):
        claims = {c.claim_id: c for c in probe_claims({"beat": beat_results(0.7, room)},
                                                      {"beat": [beat_results(0.5, room)]})}
        assert claims["C2"].testable == testable
        assert not claims["C2 (easy)"].testable and "no headroom: easy" in claims["C2 (easy)"].why_not
        if testable:
            assert "headroom checked: metrical gap 0.300 (10 tracks)" in claims["C2"].caveat
            assert claims["C2"].arms["trained"].matrix().shape == (1, 10)
        else:
            assert "no headroom: metrical" in claims["C2"].why_not


def test_a_claim_uses_every_candidate_stratum_that_qualifies_and_says_which_it_left_out():
    from vit1d.claims import claim_strata

    def check(gap):
        return {"contextual": 0.8, "frame_floor": 0.8 - gap, "gap": gap, "qualifies": gap >= 0.15, "minimum": 0.15,
                "num_tracks": 2}

    results = {"test_tracks": list(range(8)), "test_strata": ["a", "a", "b", "b", "easy", "easy", "chorale", "c"],
               "headroom": {"a": check(0.2), "b": check(0.05), "easy": check(0.3), "chorale": check(0.4)}}
    tracks, caveat, why_not = claim_strata(results, excluded=("easy",))
    assert tracks.tolist() == [0, 1, 6] and not why_not  # a and chorale qualify; b does not; c was not checked
    assert "left out for no headroom: b" in caveat and "left out, not checked: c" in caveat
    tracks, caveat, why_not = claim_strata(results, excluded=("easy", "a", "chorale", "c"))
    assert len(tracks) == 0 and why_not.startswith("no headroom: b: contextual reference 0.800")
    tracks, caveat, why_not = claim_strata({"test_tracks": [0, 1, 2], "test_strata": None}, excluded=("easy",))
    assert tracks.tolist() == [0, 1, 2] and "no strata" in caveat and "headroom not checked" in caveat

import numpy as np
import pytest

from vit1d.data.pairs import PairSampling, draw_pair_starts, reference_db, rms_db, sample_pairs

SR = 1000  # a low rate keeps these tests fast; the rules are in seconds


def _decoder(track, calls=None):
    def decode(start, seconds):
        if calls is not None:
            calls.append((start, seconds))
        first = int(round(start * SR))
        return track[first : first + int(round(seconds * SR))]
    return decode


def test_pair_centres_respect_the_distance_range_and_the_track():
    rules, rng = PairSampling(), np.random.default_rng(0)
    firsts = []
    for _ in range(2000):
        a, b = draw_pair_starts(200.0, rng, rules)
        assert 5.0 - 1e-9 <= abs(a - b) <= 90.0 + 1e-9
        assert 0.0 <= min(a, b) and max(a, b) + 4.0 <= 200.0 + 1e-9
        firsts.append(a < b)
    assert 0.4 < np.mean(firsts) < 0.6  # either crop may be the first view
    for _ in range(200):  # a 50 s track caps the distance at 46 s
        a, b = draw_pair_starts(50.0, rng, rules)
        assert abs(a - b) <= 46.0 + 1e-9


def test_short_track_rules():
    rng = np.random.default_rng(0)
    assert sorted(draw_pair_starts(7.0, rng, PairSampling(short_tracks="widest"))) == [0.0, 3.0]
    assert draw_pair_starts(7.0, rng, PairSampling(short_tracks="skip")) is None
    assert draw_pair_starts(3.9, rng, PairSampling(short_tracks="widest")) is None
    result = sample_pairs(_decoder(np.ones(3 * SR)), 3.0, rng, PairSampling())
    assert result.skipped_short and result.pairs == []
    with pytest.raises(ValueError):
        PairSampling(short_tracks="pad")


def test_silent_crops_are_rejected_and_counted():
    rng = np.random.default_rng(1)
    track = rng.standard_normal(120 * SR).astype(np.float32)
    track[20 * SR : 70 * SR] = 0.0  # 50 s of silence
    calls = []
    result = sample_pairs(_decoder(track, calls), 120.0, np.random.default_rng(2), PairSampling())
    assert len(result.pairs) == 10 and result.silent_crops > 0
    threshold = reference_db(_decoder(track), 120.0, PairSampling()) - 7.5
    for start_a, start_b, crop_a, crop_b in result.pairs:
        assert rms_db(crop_a) >= threshold and rms_db(crop_b) >= threshold
        for start in (start_a, start_b):
            assert not (20.0 <= start and start + 4.0 <= 70.0)  # no crop lies wholly in the silence
    # Only crops are decoded, never the whole track.
    assert all(seconds <= 4.0 for _, seconds in calls)
    assert len(calls) <= 8 + 2 * 10 * 4


def test_reference_level_of_a_steady_track_is_its_rms():
    track = 0.1 * np.random.default_rng(3).standard_normal(60 * SR)
    assert reference_db(_decoder(track), 60.0, PairSampling()) == pytest.approx(rms_db(track), abs=0.2)


def test_sampling_is_deterministic_for_a_seed():
    track = np.random.default_rng(4).standard_normal(100 * SR)
    first = sample_pairs(_decoder(track), 100.0, np.random.default_rng(5), PairSampling(pairs_per_track=3))
    again = sample_pairs(_decoder(track), 100.0, np.random.default_rng(5), PairSampling(pairs_per_track=3))
    assert [(a, b) for a, b, _, _ in first.pairs] == [(a, b) for a, b, _, _ in again.pairs]
    assert len(first.pairs) == 3


def test_a_known_reference_level_is_not_measured_again():
    track = np.random.default_rng(1).standard_normal(60 * SR) * 0.1
    rules = PairSampling(pairs_per_track=2)
    measured, given = [], []
    level = reference_db(_decoder(track), 60.0, rules)
    a = sample_pairs(_decoder(track, measured), 60.0, np.random.default_rng(0), rules)
    b = sample_pairs(_decoder(track, given), 60.0, np.random.default_rng(0), rules, reference=level)
    assert len(measured) - len(given) == rules.probe_crops
    assert [p[:2] for p in a.pairs] == [p[:2] for p in b.pairs]

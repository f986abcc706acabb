"""Confidence intervals, Holm's correction and claim verdicts (vit1d.stats, vit1d.claims) on constructed scores."""

import numpy as np
import pytest
from scipy.stats import bootstrap

from vit1d.claims import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, claims_table, evaluate_claims
from vit1d.stats import (
    Arm,
    bootstrap_effect,
    difference_interval,
    holm_adjust,
    mean_interval,
    minimum_detectable_difference,
)


def paired_scores(rng, tracks=100, difference=0.1, track_sd=0.2, noise_sd=0.1, seeds=1):
    """Per-track scores of two arms that share a track effect (what pairing cancels): `(seeds, tracks)` each."""
    track_effect = rng.normal(0.5, track_sd, tracks)
    a = track_effect + difference + rng.normal(0, noise_sd, (seeds, tracks))
    b = track_effect + rng.normal(0, noise_sd, (seeds, tracks))
    return a, b


def test_the_interval_of_a_known_difference_covers_it_and_pairing_narrows_it():
    rng = np.random.default_rng(0)
    a, b = paired_scores(rng)
    paired = difference_interval(a, b, n_resamples=4000)
    assert paired.low < 0.1 < paired.high and paired.low > 0 and paired.p_value < 0.001
    unpaired = bootstrap_effect({"a": Arm(a, "x"), "b": Arm(b, "y")}, lambda m: m["a"] - m["b"], n_resamples=4000)
    assert (paired.high - paired.low) < 0.6 * (unpaired.high - unpaired.low)  # the track effect cancels
    assert paired.num_tracks == {"arm": 100, "baseline": 100} and paired.num_seeds == {"arm": 1, "baseline": 1}


def test_identical_arms_cover_zero():
    scores = np.random.default_rng(1).uniform(0, 1, 50)
    same = difference_interval(scores, scores.copy(), n_resamples=2000)
    assert same.low <= 0 <= same.high and same.value == 0 and same.p_value == 1.0
    noisy = difference_interval(scores + np.random.default_rng(2).normal(0, 0.05, 50), scores, n_resamples=2000)
    assert noisy.low < 0 < noisy.high


def test_one_seed_matches_scipys_paired_percentile_bootstrap():
    rng = np.random.default_rng(3)
    a, b = paired_scores(rng, tracks=40)
    ours = difference_interval(a[0], b[0], n_resamples=20000, seed=1)
    theirs = bootstrap((a[0], b[0]), lambda x, y: np.mean(x - y), paired=True, vectorized=False,
                       n_resamples=20000, method="percentile", random_state=1).confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=0.004) and ours.high == pytest.approx(theirs.high, abs=0.004)


def test_coverage_of_the_interval_is_close_to_its_level():
    rng = np.random.default_rng(4)
    trials, hits = 150, 0
    for i in range(trials):
        a, b = paired_scores(rng, tracks=30)
        interval = difference_interval(a, b, n_resamples=1000, seed=i)
        hits += interval.low < 0.1 < interval.high
    assert 0.88 <= hits / trials <= 0.99  # 95 % nominal; a percentile interval on 30 tracks is a little narrow


def test_seed_variance_widens_the_interval():
    rng = np.random.default_rng(5)
    track_effect = rng.normal(0.5, 0.2, 60)
    seed_shift = np.array([[-0.08], [0.0], [0.08]])  # three seeds that disagree as a whole
    a = track_effect + 0.05 + seed_shift
    b = np.tile(track_effect, (3, 1))
    with_seeds = difference_interval(a, b, n_resamples=4000)
    one_seed = difference_interval(a[1], b[0], n_resamples=4000)
    assert (with_seeds.high - with_seeds.low) > 3 * (one_seed.high - one_seed.low)
    assert with_seeds.num_seeds == {"arm": 3, "baseline": 3}


def test_nan_tracks_are_left_out_and_mismatched_track_sets_refused():
    scores = np.array([0.2, np.nan, 0.4, 0.6])
    interval = mean_interval(scores, n_resamples=500)
    assert interval.value == pytest.approx(0.4) and interval.num_tracks == {"arm": 3}
    with pytest.raises(ValueError, match="same tracks"):
        bootstrap_effect({"a": Arm(np.zeros(5)), "b": Arm(np.zeros(6))}, lambda m: m["a"] - m["b"])


def test_holm_adjustment_on_known_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm_adjust([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm_adjust([0.02]), [0.02])


def test_minimum_detectable_difference_follows_the_evidence_note():
    # (1.96 + 0.84) * SD / sqrt(n): with a paired-difference SD of 0.15, 12 tracks resolve about 0.12 and 100 tracks
    # about 0.04 (evidence.md, section 5).
    differences = np.random.default_rng(6).normal(0, 0.15, 100)
    expected = 2.8016 * differences.std(ddof=1) / 10
    assert minimum_detectable_difference(differences) == pytest.approx(expected, rel=1e-3)
    assert 0.03 < minimum_detectable_difference(differences) < 0.05
    assert 0.09 < minimum_detectable_difference(differences[:12]) < 0.16
    assert np.isnan(minimum_detectable_difference([0.1]))


def claim(arms, testable=True, smallest_effect=None, claim_id="C2"):
    return Claim(claim_id, "trained beats random", "beat F", arms, lambda m: m["trained"] - m["random"],
                 "trained - random", smallest_effect=smallest_effect, testable=testable, why_not="no headroom")


def test_claims_get_supported_refuted_and_inconclusive_verdicts():
    rng = np.random.default_rng(7)
    better, base = paired_scores(rng, difference=0.15, seeds=3)
    worse, base2 = paired_scores(rng, difference=-0.15, seeds=3)
    noise, base3 = paired_scores(rng, difference=0.0, tracks=12, noise_sd=0.2, seeds=3)
    tiny, base4 = paired_scores(rng, difference=0.002, tracks=400, noise_sd=0.02, seeds=3)
    claims = [
        claim({"trained": Arm(better), "random": Arm(base)}, claim_id="supported"),
        claim({"trained": Arm(worse), "random": Arm(base2)}, claim_id="refuted"),
        claim({"trained": Arm(noise), "random": Arm(base3)}, claim_id="inconclusive"),
        claim({"trained": Arm(tiny), "random": Arm(base4)}, smallest_effect=0.05, claim_id="too small"),
        claim({"trained": Arm(better), "random": Arm(base)}, testable=False, claim_id="untestable"),
    ]
    results = {result.claim_id: result for result in evaluate_claims(claims, n_resamples=2000)}
    assert results["supported"].verdict == SUPPORTED
    assert results["refuted"].verdict == REFUTED and "effect < 0" in results["refuted"].reason
    assert results["inconclusive"].verdict == INCONCLUSIVE
    assert results["too small"].verdict == REFUTED and "smallest effect" in results["too small"].reason
    assert results["untestable"].verdict == INCONCLUSIVE and results["untestable"].interval is None
    assert "no headroom" in results["untestable"].reason
    # Holm over the four tested claims: each adjusted p is at least its own p.
    for name in ("supported", "refuted", "inconclusive", "too small"):
        assert results[name].p_holm >= results[name].interval.p_value
    table = claims_table(list(results.values()))
    assert table.count("\n") == 2 + 5 and "**supported**" in table and "trained 100x3, random 100x3" in table


def test_claims_on_too_few_tracks_are_not_decided():
    """Two tracks that disagree strongly would "refute" a claim: fewer than MIN_TRACKS tracks decide nothing."""
    rng = np.random.default_rng(9)
    worse, base = paired_scores(rng, difference=-0.3, tracks=2, noise_sd=0.01, seeds=3)
    better, base2 = paired_scores(rng, difference=0.3, tracks=40, noise_sd=0.05, seeds=3)
    claims = [claim({"trained": Arm(worse), "random": Arm(base)}, claim_id="two tracks"),
              claim({"trained": Arm(better), "random": Arm(base2)}, claim_id="forty tracks")]
    results = {r.claim_id: r for r in evaluate_claims(claims, n_resamples=2000)}
    few = results["two tracks"]
    assert few.verdict == INCONCLUSIVE and few.p_holm is None and "2 test tracks" in few.reason
    assert few.interval is not None and few.interval.high < 0  # kept for reading, not decided
    assert results["forty tracks"].verdict == SUPPORTED
    # Outside the Holm family: the decided claim's p is not multiplied by 2.
    assert results["forty tracks"].p_holm == results["forty tracks"].interval.p_value
    # The threshold is a parameter: at min_tracks=2 the two tracks refute.
    assert evaluate_claims(claims[:1], n_resamples=2000, min_tracks=2)[0].verdict == REFUTED
    assert "not testable" in claims_table([few]) and "trained 2x3" in claims_table([few])


def test_holm_turns_a_marginal_claim_inconclusive():
    """A claim significant alone (p < 0.05) but not after correcting over several claims."""
    rng = np.random.default_rng(8)
    for attempt in range(200):
        a, b = paired_scores(rng, difference=0.03, tracks=40, noise_sd=0.1)
        alone = difference_interval(a, b, n_resamples=2000)
        if 0.015 < alone.p_value < 0.045:
            break
    else:
        pytest.fail("no marginal draw found")
    # Three null claims beside it: its p-value is the smallest of four and is multiplied by 4.
    nulls = [paired_scores(rng, difference=0.0, tracks=40) for _ in range(3)]
    claims = [claim({"trained": Arm(a), "random": Arm(b)}, claim_id="marginal")] + [
        claim({"trained": Arm(x), "random": Arm(y)}, claim_id=f"null{i}") for i, (x, y) in enumerate(nulls)]
    results = {r.claim_id: r for r in evaluate_claims(claims, n_resamples=2000)}
    assert results["marginal"].interval.p_value == alone.p_value
    assert results["marginal"].verdict == INCONCLUSIVE and results["marginal"].p_holm > 0.05
    assert evaluate_claims(claims[:1], n_resamples=2000)[0].verdict == SUPPORTED  # alone it would pass


def test_weighted_means_and_set_level_metrics_get_intervals():
    from vit1d.stats import set_metric_interval

    scores = np.array([[1.0, 0.0, 0.0, 0.0]])
    weights = np.array([3.0, 1.0, 1.0, 1.0])  # e.g. durations: the first track counts three times
    interval = mean_interval(scores, weights=weights, n_resamples=500)
    assert interval.value == pytest.approx(0.5) and interval.low < 0.5 < interval.high
    # A metric of a set of tracks (not a mean), with two seeds: recomputed on every resample.
    rng = np.random.default_rng(9)
    values = rng.uniform(0, 1, (2, 40))

    def weighted_mean(seed, weights):  # (B, T) multiplicities -> (B,)
        return (weights * values[seed]).sum(axis=1) / weights.sum(axis=1)

    interval = set_metric_interval(weighted_mean, 40, 2, n_resamples=2000)
    assert interval.value == pytest.approx(values.mean())
    assert interval.low < interval.value < interval.high and interval.num_seeds == {"metric": 2}
    # A mean is also a set metric: the interval agrees with the per-track bootstrap's.
    reference = mean_interval(values, n_resamples=2000)
    assert interval.low == pytest.approx(reference.low, abs=0.02) and interval.high == pytest.approx(reference.high,
                                                                                                      abs=0.02)

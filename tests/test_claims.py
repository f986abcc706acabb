"""Claims from probe results: selection on validation only, strata, the arms compared, and verdicts on constructed
results with known effects."""

import numpy as np
import pytest

from vit1d.claims import INCONCLUSIVE, SUPPORTED, claims_table, evaluate_claims, probe_claims, select_on_validation

STRATA = ["metrical"] * 40 + ["easy"] * 20 + ["harmonic"] * 40


def record(kind, layers, validation, per_track=None, track_scores=None, metric="F-measure"):
    out = {"representation": kind, "layers": list(layers), "validation": [{metric: v} for v in validation],
           "per_track": per_track or {}}
    if track_scores is not None:
        out["track_scores"] = track_scores
    return out


def results(records, strata=STRATA):
    return {"results": records, "test_tracks": [f"t{i}" for i in range(len(strata))], "test_strata": strata,
            "track_weights": None}


def local(rng, level, layers, validation, metric, seeds=3):
    scores = np.clip(level + rng.normal(0, 0.05, (seeds, len(STRATA))), 0, 1)
    return record("sequence", layers, validation, {metric: scores.tolist()}, metric=metric)


def tagging_scores(rng, signal, seeds=3, tracks=100, tags=8):
    targets = (rng.uniform(size=(tracks, tags)) < 0.3).astype(float)
    scores = [(signal * targets + rng.normal(0, 1, (tracks, tags))).tolist() for _ in range(seeds)]
    return {"scores": scores, "targets": targets.tolist()}


def test_selection_reads_validation_only():
    rng = np.random.default_rng(0)
    best_on_test = local(rng, 0.9, [3], [0.1, 0.1, 0.1], "F-measure")  # best on test, worst on validation
    best_on_validation = local(rng, 0.5, [6], [0.8, 0.7, 0.9], "F-measure")
    stacked = local(rng, 0.99, [3, 6, 9, 12], [0.99] * 3, "F-measure")  # not a single layer: never chosen here
    chosen = select_on_validation(results([best_on_test, best_on_validation, stacked]), "sequence")
    assert chosen is best_on_validation


def test_probe_claims_give_verdicts_per_stratum():
    rng = np.random.default_rng(1)
    trained = {
        # Beat: trained clearly ahead of random (0.7 vs 0.5) on every stratum.
        "beat": results([local(rng, 0.7, [layer], [0.6 + layer / 100] * 3, "F-measure") for layer in (3, 6, 9, 12)]
                        + [local(rng, 0.72, [3, 6, 9, 12], [0.7] * 3, "F-measure")]),
        # Chord: stacking lifts chord by 0.2, beat by 0.02.
        "chord": results([local(rng, 0.5, [layer], [0.5] * 3, "frame_accuracy") for layer in (3, 6, 9, 12)]
                         + [local(rng, 0.7, [3, 6, 9, 12], [0.7] * 3, "frame_accuracy")]),
        "tagging": results([record("class", [12], [0.3] * 3, track_scores=tagging_scores(rng, 0.5)),
                            record("average", [12], [0.4] * 3, track_scores=tagging_scores(rng, 0.5))],
                           strata=STRATA),
    }
    random = {"beat": [results([local(rng, 0.5, [layer], [0.5] * 3, "F-measure") for layer in (3, 6, 9, 12)])
                       for _ in range(3)],
              "tagging": [results([record("average", [12], [0.3] * 3, track_scores=tagging_scores(rng, 2.0))])
                          for _ in range(3)]}
    claims = {claim.claim_id: claim for claim in probe_claims(trained, random, n_resamples=400)}
    assert set(claims) == {"C1", "C2", "C2 (easy)", "C3", "C5"}
    # Without a headroom check every candidate stratum counts: C2 uses all but the easy grooves (metrical and
    # harmonic, 80 tracks), trained x 3 probe seeds against 3 inits x 3 probe seeds; chord all but chorales (none).
    assert claims["C2"].arms["trained"].matrix().shape == (3, 80) and claims["C2"].arms["random"].matrix().shape == (
        9, 80)
    assert claims["C2 (easy)"].arms["trained"].matrix().shape == (3, 20)
    assert "@[12]" in claims["C2"].effect_label  # the layer with the best validation score
    assert claims["C5"].arms["chord_stacked"].matrix().shape == (3, 100) and "headroom" in claims["C5"].caveat
    assert claims["C5"].arms["beat_stacked"].matrix().shape == (3, 80)
    verdicts = {r.claim_id: r for r in evaluate_claims(list(claims.values()), n_resamples=400)}
    assert verdicts["C2"].verdict == SUPPORTED and verdicts["C2 (easy)"].verdict == SUPPORTED
    assert verdicts["C5"].verdict == SUPPORTED and verdicts["C5"].interval.value == pytest.approx(0.18, abs=0.03)
    # The random initialisations' tagging scores carry more signal (2.0 vs 0.5): C3 is refuted; C1 (same signal in
    # both representations) is inconclusive.
    assert verdicts["C3"].verdict == "refuted" and verdicts["C1"].verdict == INCONCLUSIVE
    table = claims_table(list(verdicts.values()))
    assert "C2 (easy)" in table and "headroom not checked" in table


def test_missing_probes_make_claims_untestable_not_errors():
    claims = {claim.claim_id: claim for claim in probe_claims({}, {})}
    assert all(not claim.testable for claim in claims.values())
    verdicts = evaluate_claims(list(claims.values()))
    assert all(r.verdict == INCONCLUSIVE and r.reason.startswith("not testable here") for r in verdicts)


def test_analysis_claims_compare_onsets_with_random_inits_and_floors_and_layers():
    from vit1d.claims import analysis_claims

    rng = np.random.default_rng(2)
    tracks = 30

    def f(level, seeds=1):
        values = np.clip(level + rng.normal(0, 0.05, (seeds, tracks)), 0, 1)
        values[:, 0] = np.nan  # a track without onsets is left out
        return values.tolist()

    ssm = {"3": {"chord_change_lift": f(1.5), "beat_lag_contrast": f(0.01)},
           "12": {"chord_change_lift": f(0.5), "beat_lag_contrast": f(0.01)}}
    results = {"selection": {"split": "validation"},
               "per_track": {"onsets": {"trained": {"f_measure": f(0.7)}, "random_init": {"f_measure": f(0.5, 3)},
                                        "noise": {"f_measure": f(0.4)}, "random_projection": {"f_measure": f(0.75)}},
                             "ssm": {"trained": ssm}}}
    claims = {claim.claim_id: claim for claim in analysis_claims(results)}
    assert claims["C4"].arms["random_init"].matrix().shape == (3, tracks - 1)
    verdicts = {r.claim_id: r for r in evaluate_claims(list(claims.values()), n_resamples=400)}
    assert verdicts["C4"].verdict == SUPPORTED and verdicts["C4 (noise floor)"].verdict == SUPPORTED
    assert verdicts["C4 (projection floor)"].verdict == "refuted"  # the projection floor is ahead: 0.75 vs 0.7
    assert verdicts["C6 (harmony shallow)"].verdict == SUPPORTED  # lift 1.5 at layer 3 vs 0.5 at 12
    assert verdicts["C6 (rhythm deep)"].verdict == INCONCLUSIVE and "layer 12 - layer 3" in verdicts[
        "C6 (rhythm deep)"].effect_label
    # Without random initialisations, C6's comparisons with them cannot be made, and say so.
    assert not claims["C6 (harmony shallow, vs random)"].testable and not claims["C6 (CKA)"].testable
    empty = analysis_claims({"per_track": {}})
    assert all(not claim.testable for claim in empty)


def test_c6_compares_the_depth_differences_and_cka_of_trained_and_random_encoders():
    from vit1d.claims import analysis_claims

    rng = np.random.default_rng(3)
    tracks = 40

    def f(level, seeds=1, spread=0.05):
        return (level + rng.normal(0, spread, (seeds, tracks))).tolist()

    def ssm(shallow_lift, deep_lift, cka, seeds=1):
        return {"3": {"chord_change_lift": f(shallow_lift, seeds), "beat_lag_contrast": f(0.0, seeds),
                      "cka_to_deepest": f(cka, seeds, 0.02)},
                "12": {"chord_change_lift": f(deep_lift, seeds), "beat_lag_contrast": f(0.0, seeds),
                       "cka_to_deepest": f(1.0, seeds, 0.0)}}

    def verdicts(trained, random):
        claims = analysis_claims({"per_track": {"ssm": {"trained": trained, "random_init": random}}})
        return {r.claim_id: r for r in evaluate_claims(claims, n_resamples=400)}

    # Training made the shallow layer mark chord changes and the layers less alike than at initialisation.
    made = verdicts(ssm(1.5, 0.5, 0.3), ssm(0.6, 0.5, 0.9, seeds=3))
    assert made["C6 (harmony shallow)"].verdict == SUPPORTED
    assert made["C6 (harmony shallow, vs random)"].verdict == SUPPORTED
    assert made["C6 (harmony shallow, vs random)"].interval.value == pytest.approx(0.9, abs=0.05)
    assert made["C6 (harmony shallow, vs random)"].interval.num_seeds == {"trained": 1, "random_init": 3}
    assert made["C6 (CKA)"].verdict == SUPPORTED and made["C6 (CKA)"].interval.value == pytest.approx(0.6, abs=0.03)
    assert abs(made["C6 (rhythm deep, vs random)"].interval.value) < 0.06  # no beat-lag structure in either
    # A random encoder whose layers differ alike: the trained encoder's own depth difference is no evidence of
    # training, and layers more alike than at initialisation refute the CKA row.
    alike = verdicts(ssm(1.5, 0.5, 0.95), ssm(1.5, 0.5, 0.6, seeds=3))
    assert alike["C6 (harmony shallow)"].verdict == SUPPORTED
    assert alike["C6 (harmony shallow, vs random)"].verdict == INCONCLUSIVE
    assert alike["C6 (harmony shallow, vs random)"].interval.low < 0 < alike[
        "C6 (harmony shallow, vs random)"].interval.high
    assert alike["C6 (CKA)"].verdict == "refuted"


def test_the_runs_own_step_zero_weights_are_a_paired_arm_of_c2_and_c3():
    rng = np.random.default_rng(2)
    trained = {"beat": results([local(rng, 0.7, [layer], [0.6] * 3, "F-measure") for layer in (3, 6)]),
               "tagging": results([record("average", [12], [0.4] * 3, track_scores=tagging_scores(rng, 2.0))])}
    initial = {"beat": results([local(rng, 0.5, [layer], [0.5] * 3, "F-measure") for layer in (3, 6)]),
               "tagging": results([record("average", [12], [0.3] * 3, track_scores=tagging_scores(rng, 0.2))])}
    claims = {c.claim_id: c for c in probe_claims(trained, {}, n_resamples=400, initial=initial)}
    assert claims["C2 (vs step 0)"].arms["step 0"].matrix().shape == (3, 80)
    assert not claims["C2"].testable and not claims["C3"].testable  # no random initialisations given
    verdicts = {r.claim_id: r for r in evaluate_claims(list(claims.values()), n_resamples=400)}
    assert verdicts["C2 (vs step 0)"].verdict == SUPPORTED and verdicts["C3 (vs step 0)"].verdict == SUPPORTED
    assert "C2 (vs step 0)" not in {c.claim_id for c in probe_claims(trained, {}, n_resamples=100)}


def test_strata_report_scores_every_arm_per_stratum_with_intervals_and_the_mdd():
    from vit1d.claims import strata_markdown, strata_report

    rng = np.random.default_rng(3)
    strata = ["metrical"] * 30 + ["easy"] * 30

    def beat(level, seeds=3):
        return local(rng, level, [6], [0.5] * 3, "F-measure", seeds)

    def shaped(record):  # `local` draws for STRATA's 100 tracks: keep 60
        record["per_track"]["F-measure"] = np.asarray(record["per_track"]["F-measure"])[:, :60].tolist()
        return record

    trained = results([shaped(beat(0.7))], strata)
    floor = {"per_track": {"F-measure": np.full(60, 0.3).tolist()}}
    trained["floors"] = [{**shaped(beat(0.4)), "representation": "floor: log-mel frames"},
                         {**floor, "representation": "chance: metronome"},
                         {"per_track": {"F-measure": np.full(60, 0.2).tolist()}, "representation": "chance: other"},
                         {**shaped(beat(0.9, 1)), "representation": "reference: contextual (...)"},
                         {**shaped(beat(0.8, 1)), "representation": "classical: flux"}]
    trained["headroom"] = {"metrical": {"gap": 0.5, "qualifies": True, "minimum": 0.15},
                           "easy": {"gap": 0.05, "qualifies": False, "minimum": 0.15}}
    trained["results"][0]["task"] = "beat"
    random = [results([shaped(beat(0.5))], strata) for _ in range(3)]
    rows = {row["stratum"]: row for row in strata_report(trained, random, results([shaped(beat(0.45))], strata),
                                                         n_resamples=300)}
    assert set(rows) == {"metrical", "easy", "all strata"} and rows["metrical"]["num_tracks"] == 30
    arms = rows["metrical"]["arms"]
    assert arms["chance (best)"]["value"] == pytest.approx(0.3)  # the stronger of the two chance predictors
    assert arms["trained"]["value"] == pytest.approx(0.7, abs=0.02) and arms["random init"]["num_seeds"] == 9
    assert arms["step 0"]["value"] == pytest.approx(0.45, abs=0.02)
    assert arms["contextual reference"]["value"] == pytest.approx(0.9, abs=0.03)
    assert all(e["low"] <= e["value"] <= e["high"] for e in arms.values())
    # Per-track differences of about 0.2 with SD about 0.03 over 30 tracks: an MDD of 2.8 * SD / sqrt(30).
    assert 0.005 < rows["metrical"]["mdd_trained_minus_random"] < 0.05
    assert rows["metrical"]["headroom"]["qualifies"] and not rows["easy"]["headroom"]["qualifies"]
    table = strata_markdown(list(rows.values()))
    assert "| metrical | 30 |" in table and "yes (0.500)" in table and "no (0.050)" in table

"""A verdict per claim of the paper: supported, refuted or inconclusive, with the effect, its confidence interval and
a Holm-corrected p-value (see `vit1d.stats` for how intervals and p-values are computed).

A claim compares arms (e.g. the trained encoder and random initialisations of its config) through an effect (e.g.
the difference of their mean beat F-measure) on a set of test tracks. The verdict rule, with `alpha` the family-wise
level over the claims evaluated together:

- **supported**: the Holm-adjusted p-value is below `alpha` and the effect is positive (the claimed direction);
- **refuted**: the Holm-adjusted p-value is below `alpha` and the effect is negative, or the whole confidence
  interval lies below `smallest_effect` (the claim's smallest effect that matters, when one is given): the effect is
  confidently absent;
- **inconclusive**: otherwise, and always when the claim cannot be tested on these data (`testable=False`, e.g. a
  stratum whose contextual reference shows no headroom over the frame-level floor): the reason is given.

An inconclusive verdict is a result: it says the benchmark, at its size, cannot tell.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .stats import Arm, Interval, arm_mean, bootstrap_effect, holm_adjust

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"

# The claims of the paper this project tests (Kong et al., ISMIR 2025), as the issue tracker states them; the numbers
# are the paper's, for reference only: the benchmark here is not the paper's data.
PAPER_CLAIMS: dict[str, str] = {
    "C1": "The mean of the class and sequence tokens beats the class token alone on tagging",
    "C2": "Trained beats random initialisation on beat tracking (sequence tokens; paper: F 0.723 vs 0.463)",
    "C3": "Trained beats random initialisation on tagging (paper: mAP 0.417 vs 0.273)",
    "C4": "Onsets read from attention: trained beats random (paper: F 0.877 vs 0.501) and the chance floors",
    "C5": "Stacking layers 3, 6, 9, 12 lifts chord accuracy more than beat F (paper: chord 31.9 -> 42.2 %)",
    "C6": "Layers differ: self-similarity measures vary with depth",
}


@dataclass
class Claim:
    """One claim and the data that test it.

    Args:
        claim_id: e.g. "C2".
        statement: what is claimed, in words.
        metric: the metric and its unit, e.g. "beat F-measure (70 ms)".
        arms: the scores compared (see `vit1d.stats.Arm`).
        effect: the effect from the arms' mean scores; positive means the claim holds.
        effect_label: how the effect reads, e.g. "trained - random".
        smallest_effect: the smallest effect that matters; a confidence interval wholly below it refutes the claim.
        testable: False when these data cannot test the claim (no headroom, no annotations); `why_not` says why.
        interval: a precomputed interval, for effects that are not functions of arm means (a difference of macro
            mAPs recomputed on resampled tracks: `vit1d.stats.set_metric_interval`); `arms` then only report means.
        caveat: what a reader must know about this row (e.g. the headroom check has not run).
    """

    claim_id: str
    statement: str
    metric: str
    arms: Mapping[str, Arm]
    effect: Callable[[Mapping[str, float]], float]
    effect_label: str
    smallest_effect: float | None = None
    testable: bool = True
    why_not: str = ""
    interval: Interval | None = None
    caveat: str = ""


@dataclass
class ClaimResult:
    claim_id: str
    statement: str
    metric: str
    effect_label: str
    interval: Interval | None
    p_holm: float | None
    verdict: str
    reason: str
    arm_means: dict[str, float] = field(default_factory=dict)
    caveat: str = ""

    def to_dict(self) -> dict:
        return {"claim": self.claim_id, "statement": self.statement, "metric": self.metric,
                "effect": self.effect_label, "interval": self.interval.to_dict() if self.interval else None,
                "p_holm": self.p_holm, "verdict": self.verdict, "reason": self.reason, "arm_means": self.arm_means,
                "caveat": self.caveat}


def verdict(interval: Interval, p_holm: float, alpha: float = 0.05,
            smallest_effect: float | None = None) -> tuple[str, str]:
    """The verdict of the module docstring and its reason, for one tested claim."""
    if p_holm < alpha and interval.value > 0:
        return SUPPORTED, f"effect > 0 at family-wise level {alpha:g} (Holm)"
    if p_holm < alpha and interval.value < 0:
        return REFUTED, f"effect < 0 at family-wise level {alpha:g} (Holm)"
    if smallest_effect is not None and interval.high < smallest_effect:
        return REFUTED, (f"the {interval.confidence:.0%} interval lies below the smallest effect that matters "
                         f"({smallest_effect:g})")
    return INCONCLUSIVE, f"the {interval.confidence:.0%} interval includes 0 and effects that matter"


def evaluate_claims(claims: Sequence[Claim], alpha: float = 0.05, n_resamples: int = 10000,
                    seed: int = 0) -> list[ClaimResult]:
    """Bootstrap every testable claim, Holm-correct their p-values together and give each its verdict."""
    intervals = [None if not claim.testable else claim.interval if claim.interval is not None
                 else bootstrap_effect(claim.arms, claim.effect, n_resamples=n_resamples, seed=seed)
                 for claim in claims]
    tested = [i for i, interval in enumerate(intervals) if interval is not None]
    adjusted = dict(zip(tested, holm_adjust([intervals[i].p_value for i in tested]))) if tested else {}
    results = []
    for index, (claim, interval) in enumerate(zip(claims, intervals)):
        means = {name: arm_mean(arm) for name, arm in claim.arms.items()}
        if interval is None:
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, None, None,
                                 INCONCLUSIVE, f"not testable here: {claim.why_not}", means, claim.caveat)
        else:
            decided, reason = verdict(interval, adjusted[index], alpha, claim.smallest_effect)
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, interval,
                                 float(adjusted[index]), decided, reason, means, claim.caveat)
        results.append(result)
    return results


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def claims_table(results: Sequence[ClaimResult]) -> str:
    """The claims as a Markdown table: effect with its interval, Holm p-value, tracks x seeds, verdict."""
    lines = ["| claim | metric | effect | estimate | 95 % CI | p (Holm) | tracks x seeds | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for result in results:
        interval = result.interval
        if interval is None:
            cells = ["-", "-", "-", "-"]
        else:
            sizes = ", ".join(f"{name} {interval.num_tracks[name]}x{interval.num_seeds[name]}"
                              for name in interval.num_tracks)
            cells = [_number(interval.value), f"[{_number(interval.low)}, {_number(interval.high)}]",
                     _number(result.p_holm, 4), sizes]
        caveat = f"; {result.caveat}" if result.caveat else ""
        lines.append(f"| {result.claim_id}: {result.statement} | {result.metric} | {result.effect_label} | "
                     + " | ".join(cells) + f" | **{result.verdict}** ({result.reason}{caveat}) |")
    return "\n".join(lines) + "\n"


# -- claims from probe results ---------------------------------------------------------------------------------------

HEADROOM_CAVEAT = "headroom not checked (run_probe --floors checks it on beat and chord): a floor may be the ceiling"
# Where each local claim is tested: the strata built to have headroom for it (see `vit1d.corpus.strata`).
BEAT_STRATA, CHORD_STRATA = ("metrical",), ("harmonic",)
HEADLINE = {"tagging": "mAP", "key": "weighted_score", "beat": "F-measure", "chord": "frame_accuracy"}


def _mean_validation(record: dict) -> float:
    scores = [next(iter(v.values())) for v in record.get("validation", []) if v]
    return float(np.mean(scores)) if scores else float("-inf")


def select_on_validation(results: dict, kind: str | None = None, layers: Sequence[Sequence[int]] | None = None
                         ) -> dict | None:
    """The probe record chosen on the validation split: among the single-layer records (of representation `kind`,
    and of the layer sets `layers` when given), the one whose validation score, averaged over probe seeds, is
    highest. The test split plays no part in the choice."""
    candidates = [r for r in results["results"] if (kind is None or r["representation"] == kind)
                  and (len(r["layers"]) == 1 if layers is None else [list(x) for x in layers].count(r["layers"]))]
    return max(candidates, key=_mean_validation, default=None)


def _record(results: dict, kind: str, layers: Sequence[int]) -> dict | None:
    return next((r for r in results["results"] if r["representation"] == kind and r["layers"] == list(layers)),
                None)


def _tracks_in(results: dict, strata: Sequence[str]) -> tuple[np.ndarray, str]:
    """Indices of the test tracks in `strata`, and a caveat when the data has no strata (then every track)."""
    labels = results.get("test_strata") or [None] * len(results["test_tracks"])
    if all(label is None for label in labels):
        return np.arange(len(labels)), "these data have no strata: every test track"
    return np.flatnonzero([label in strata for label in labels]), ""


def _scores(record: dict, metric: str, tracks: np.ndarray) -> np.ndarray:
    return np.asarray(record["per_track"][metric], dtype=np.float64)[:, tracks]


def _stacked(records: Sequence[dict], metric: str, tracks: np.ndarray) -> np.ndarray:
    """The per-track scores of several runs (e.g. random initialisations with different seeds), their seeds stacked:
    `(sum of seeds, tracks)`."""
    return np.concatenate([_scores(record, metric, tracks) for record in records])


def _map_difference(first: Sequence[dict], second: Sequence[dict], n_resamples: int) -> Interval:
    """The interval of mean mAP(first) - mean mAP(second) over their probe seeds, both recomputed on each resample of
    the test tracks (the same resample for both: paired)."""
    from .probing.metrics import resampled_tagging_metrics
    from .stats import set_metric_interval

    def runs(records):
        return [(np.asarray(scores), np.asarray(r["track_scores"]["targets"]))
                for r in records for scores in r["track_scores"]["scores"]]

    a, b = runs(first), runs(second)
    seeds = max(len(a), len(b))

    def metric(seed, weights):
        (sa, ta), (sb, tb) = a[seed % len(a)], b[seed % len(b)]
        return resampled_tagging_metrics(sa, ta, weights)["mAP"] - resampled_tagging_metrics(sb, tb, weights)["mAP"]

    return set_metric_interval(metric, len(a[0][1]), seeds, n_resamples)


def _headroom(results: dict, strata: Sequence[str]) -> tuple[bool, str]:
    """Whether the headroom check of a task's results lets `strata` count for a claim, and what to say: the check's
    verdict per stratum, or the caveat that it has not run (`vit1d.probing.headroom`)."""
    checks = results.get("headroom") or {}
    if not checks:
        return True, HEADROOM_CAVEAT
    missing = [s for s in strata if s not in checks and "all" not in checks]
    if missing:
        return False, f"no headroom check for {missing}"
    failed = {s: checks.get(s, checks.get("all")) for s in strata}
    failed = {s: c for s, c in failed.items() if not c["qualifies"]}
    if failed:
        return False, "no headroom: " + "; ".join(
            f"{s}: contextual reference {c['contextual']:.3f} vs frame floor {c['frame_floor']:.3f} (gap "
            f"{c['gap']:.3f} < {c['minimum']:g})" for s, c in failed.items())
    return True, "headroom checked: " + "; ".join(f"{s} gap {checks.get(s, checks.get('all'))['gap']:.3f}"
                                                  for s in strata)


def _untestable(claim_id: str, metric: str, label: str, why: str) -> Claim:
    return Claim(claim_id, PAPER_CLAIMS[claim_id.split(" ")[0]], metric, {}, lambda m: 0.0, label, testable=False,
                 why_not=why)


def probe_claims(trained: Mapping[str, dict], random: Mapping[str, Sequence[dict]],
                 n_resamples: int = 2000) -> list[Claim]:
    """Claims C1, C2, C3 and C5 from `probe_results.json` contents: `trained[task]` of the encoder under test and
    `random[task]`, one per random initialisation (seed) of its config. Layers and representations are chosen on the
    validation split; local claims are tested on the stratum built for them (beat: metrical, with the easy drum
    grooves reported apart; chord: harmonic)."""
    claims = []
    tagging = trained.get("tagging")
    # C1: the paper's "average" (class and sequence tokens) against the class token alone, on tagging.
    average = tagging and select_on_validation(tagging, "average")
    alone = tagging and select_on_validation(tagging, "class")
    enough = bool(tagging) and len(tagging["test_tracks"]) >= 2
    if average and alone and "track_scores" in average and enough:
        claims.append(Claim("C1", PAPER_CLAIMS["C1"], "tagging macro mAP", {}, lambda m: 0.0,
                            f"average @{average['layers']} - class @{alone['layers']}",
                            interval=_map_difference([average], [alone], n_resamples)))
    else:
        claims.append(_untestable("C1", "tagging macro mAP", "average - class",
                                  "tagging was not probed with both the class token and the average on at least "
                                  "2 test tracks"))
    # C3: trained against random initialisations on tagging.
    chosen = tagging and select_on_validation(tagging, "average") or tagging and select_on_validation(tagging)
    baselines = [select_on_validation(r, chosen["representation"]) for r in random.get("tagging", [])] if chosen \
        else []
    if chosen and baselines and all(b and "track_scores" in b for b in baselines) and enough:
        claims.append(Claim("C3", PAPER_CLAIMS["C3"], "tagging macro mAP", {}, lambda m: 0.0,
                            f"trained - random ({len(baselines)} inits)",
                            interval=_map_difference([chosen], baselines, n_resamples)))
    else:
        claims.append(_untestable("C3", "tagging macro mAP", "trained - random", "tagging of the trained model or "
                                  "of random initialisations is missing, or has fewer than 2 test tracks"))
    # C2: trained against random initialisations on beat, sequence tokens, on the metrical stratum (and the easy).
    beat = trained.get("beat")
    for claim_id, strata in (("C2", BEAT_STRATA), ("C2 (easy)", ("easy",))):
        chosen = beat and select_on_validation(beat, "sequence")
        baselines = [select_on_validation(r, "sequence") for r in random.get("beat", [])]
        if not (chosen and baselines and all(baselines)):
            claims.append(_untestable(claim_id, "beat F", "trained - random", "beat probes are missing"))
            continue
        tracks, note = _tracks_in(beat, strata)
        if len(tracks) < 2:
            claims.append(_untestable(claim_id, "beat F", "trained - random", f"fewer than 2 test tracks in {strata}"))
            continue
        counts, room = _headroom(beat, strata if not note else ("all",))
        if not counts:
            claims.append(_untestable(claim_id, "beat F", "trained - random", room))
            continue
        arms = {"trained": Arm(_scores(chosen, "F-measure", tracks)),
                "random": Arm(_stacked(baselines, "F-measure", tracks))}
        claims.append(Claim(claim_id, PAPER_CLAIMS["C2"], f"beat F (70 ms), {'/'.join(strata)} stratum", arms,
                            lambda m: m["trained"] - m["random"], f"trained @{chosen['layers']} - random",
                            caveat="; ".join(filter(None, [note, room]))))
    # C5: stacking 3, 6, 9, 12 lifts chord accuracy more than beat F (each against its best single layer).
    chord = trained.get("chord")
    stack = (3, 6, 9, 12)
    stacked = {task: results and _record(results, "sequence", stack) for task, results in (("chord", chord),
                                                                                           ("beat", beat))}
    single = {task: results and select_on_validation(results, "sequence", [(layer,) for layer in stack])
              for task, results in (("chord", chord), ("beat", beat))}
    chord_tracks, chord_note = _tracks_in(chord, CHORD_STRATA) if chord else (np.zeros(0), "")
    beat_tracks, beat_note = _tracks_in(beat, BEAT_STRATA) if beat else (np.zeros(0), "")
    rooms = [_headroom(chord, CHORD_STRATA if not chord_note else ("all",)) if chord else (True, ""),
             _headroom(beat, BEAT_STRATA if not beat_note else ("all",)) if beat else (True, "")]
    if not all(counts for counts, _ in rooms):
        claims.append(_untestable("C5", "chord accuracy and beat F", "stack lift (chord) - stack lift (beat)",
                                  "; ".join(room for counts, room in rooms if not counts)))
    elif all(stacked.values()) and all(single.values()) and min(len(chord_tracks), len(beat_tracks)) >= 2:
        weights = chord.get("track_weights")
        chord_weights = None if weights is None else np.asarray(weights)[chord_tracks]
        arms = {"chord_stacked": Arm(_scores(stacked["chord"], "frame_accuracy", chord_tracks), "chord",
                                     chord_weights),
                "chord_single": Arm(_scores(single["chord"], "frame_accuracy", chord_tracks), "chord",
                                    chord_weights),
                "beat_stacked": Arm(_scores(stacked["beat"], "F-measure", beat_tracks), "beat"),
                "beat_single": Arm(_scores(single["beat"], "F-measure", beat_tracks), "beat")}
        claims.append(Claim(
            "C5", PAPER_CLAIMS["C5"], "chord frame accuracy (harmonic) and beat F (metrical)", arms,
            lambda m: (m["chord_stacked"] - m["chord_single"]) - (m["beat_stacked"] - m["beat_single"]),
            f"(chord: stack - @{single['chord']['layers']}) - (beat: stack - @{single['beat']['layers']})",
            caveat="; ".join(dict.fromkeys(filter(None, [chord_note, beat_note, rooms[0][1], rooms[1][1]])))))
    else:
        claims.append(_untestable("C5", "chord accuracy and beat F", "stack lift (chord) - stack lift (beat)",
                                  "chord and beat were not probed on layers 3, 6, 9, 12 one by one and stacked, "
                                  "or their strata have fewer than 2 test tracks"))
    return claims


# -- claims from analysis results ------------------------------------------------------------------------------------


def analysis_claims(results: dict) -> list[Claim]:
    """Claims C4 and C6 from `analysis_results.json` contents (`vit1d.analysis.run_analysis`, whose onset
    configurations are chosen on the validation split and whose random arm holds several initialisations).

    C4: the test onset F of the trained encoder's chosen attention curve against the random initialisations', and
    against the chance floors (peak-picked noise, a random linear projection of the log-mel frame), paired over the
    test tracks with onsets. C6: the self-similarity measures change with depth, as the paper's pictures suggest:
    chord changes stand out more at the shallowest SSM layer than at the deepest (novelty lift), and beats recur more
    at the deepest (beat-lag contrast), for the trained encoder, paired over tracks."""
    claims = []
    per_track = results.get("per_track", {})
    onsets = per_track.get("onsets", {})
    caveat = "" if not str(results.get("selection", {}).get("split", "")).startswith("none") else \
        "configuration chosen on the reported tracks (no validation split): optimistic"
    trained = onsets.get("trained", {}).get("f_measure")
    comparisons = (("C4", "random_init", "trained - random"), ("C4 (noise floor)", "noise", "trained - noise"),
                   ("C4 (projection floor)", "random_projection", "trained - random projection"))
    for claim_id, other, label in comparisons:
        baseline = onsets.get(other, {}).get("f_measure")
        if trained is None or baseline is None:
            claims.append(_untestable(claim_id, "onset F (50 ms)", label, "the analysis has no scored onsets for "
                                      f"{'the trained encoder' if trained is None else other}"))
            continue
        a, b = np.asarray(trained, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
        scored = np.isfinite(a).any(axis=0) & np.isfinite(b).any(axis=0)
        if scored.sum() < 2:
            claims.append(_untestable(claim_id, "onset F (50 ms)", label, "fewer than 2 test tracks with onsets"))
            continue
        claims.append(Claim(claim_id, PAPER_CLAIMS["C4"], "onset F (50 ms) of the chosen attention curve",
                            {"trained": Arm(a[:, scored]), other: Arm(b[:, scored])},
                            lambda m, o=other: m["trained"] - m[o], label, caveat=caveat))
    ssm = per_track.get("ssm", {}).get("trained", {})
    layers = sorted(ssm, key=int)
    for claim_id, measure, label in (("C6 (harmony shallow)", "chord_change_lift", "layer {0} - layer {1}"),
                                     ("C6 (rhythm deep)", "beat_lag_contrast", "layer {1} - layer {0}")):
        if len(layers) < 2:
            claims.append(_untestable(claim_id, measure, "shallow vs deep", "fewer than 2 SSM layers analysed"))
            continue
        shallow, deep = (np.asarray(ssm[layer][measure], dtype=np.float64) for layer in (layers[0], layers[-1]))
        scored = np.isfinite(shallow).any(axis=0) & np.isfinite(deep).any(axis=0)
        if scored.sum() < 2:
            claims.append(_untestable(claim_id, measure, "shallow vs deep", "fewer than 2 tracks with the annotation"))
            continue
        first, second = ("shallow", "deep") if measure == "chord_change_lift" else ("deep", "shallow")
        claims.append(Claim(claim_id, PAPER_CLAIMS["C6"], f"{measure} of the trained encoder's SSM",
                            {"shallow": Arm(shallow[:, scored]), "deep": Arm(deep[:, scored])},
                            lambda m, a=first, b=second: m[a] - m[b], label.format(layers[0], layers[-1]),
                            caveat="layers of the trained encoder only: a random initialisation may differ alike"))
    return claims


__all__ = ["Claim", "ClaimResult", "INCONCLUSIVE", "PAPER_CLAIMS", "REFUTED", "SUPPORTED", "claims_table",
           "analysis_claims", "evaluate_claims", "probe_claims", "select_on_validation", "verdict"]

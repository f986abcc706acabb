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
  stratum whose contextual reference shows no headroom over the frame-level floor, or fewer than `min_tracks` test
  tracks, `MIN_TRACKS` by default: a bootstrap over a handful of tracks resamples the same few values and its
  interval is far too narrow, so two tracks could "refute" a claim): the reason is given. Such claims stay out of the
  Holm family.

An inconclusive verdict is a result: it says the benchmark, at its size, cannot tell.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .stats import Arm, Interval, arm_mean, bootstrap_effect, holm_adjust
from .task_info import TASK_INFO

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
# Fewest test tracks a claim is decided on. The percentile bootstrap resamples tracks: with n tracks there are only
# C(2n-1, n) distinct resamples (10 for n = 3) and its interval undercovers badly below about ten.
MIN_TRACKS = 10

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
                    seed: int = 0, min_tracks: int = MIN_TRACKS) -> list[ClaimResult]:
    """Bootstrap every testable claim, Holm-correct their p-values together and give each its verdict.

    A claim whose interval rests on fewer than `min_tracks` tracks (in its smallest arm) keeps its interval for
    reading but is not decided: inconclusive, "not testable here", and outside the Holm family."""
    intervals = [None if not claim.testable else claim.interval if claim.interval is not None
                 else bootstrap_effect(claim.arms, claim.effect, n_resamples=n_resamples, seed=seed)
                 for claim in claims]
    too_few = {i: min(interval.num_tracks.values()) for i, interval in enumerate(intervals)
               if interval is not None and min(interval.num_tracks.values()) < min_tracks}
    tested = [i for i, interval in enumerate(intervals) if interval is not None and i not in too_few]
    adjusted = dict(zip(tested, holm_adjust([intervals[i].p_value for i in tested]))) if tested else {}
    results = []
    for index, (claim, interval) in enumerate(zip(claims, intervals)):
        means = {name: arm_mean(arm) for name, arm in claim.arms.items()}
        if interval is None:
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, None, None,
                                 INCONCLUSIVE, f"not testable here: {claim.why_not}", means, claim.caveat)
        elif index in too_few:
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, interval, None,
                                 INCONCLUSIVE, f"not testable here: {too_few[index]} test tracks, fewer than the "
                                 f"{min_tracks} a bootstrap interval needs", means, claim.caveat)
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
# Strata a local claim never uses: the drum grooves ("easy": their onsets mark the beat; C2 (easy) reports them
# apart) for beat, the chorales ("chorale": chords estimated by chordify, not exact) for chord. Every other stratum
# counts where the headroom check lets it (`vit1d.probing.headroom`).
BEAT_EXCLUDED, CHORD_EXCLUDED = ("easy",), ("chorale",)
HEADLINE = {name: info.headline for name, info in TASK_INFO.items()}


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


def _test_strata(results: dict) -> np.ndarray:
    """The stratum of every test track of a results file; "all" for data without strata."""
    labels = results.get("test_strata") or [None] * len(results["test_tracks"])
    return np.array(["all" if label is None else label for label in labels], dtype=object)


def claim_strata(results: dict, excluded: Sequence[str] = (), only: Sequence[str] | None = None
                 ) -> tuple[np.ndarray, str, str]:
    """The test tracks a local claim is tested on: those of the strata that qualify in the task's headroom check
    (`vit1d.probing.headroom`), leaving out the `excluded` strata (or keeping `only` those). Returns the track indices,
    the caveat that says which strata were used and which were left out and why, and, when no stratum can test the
    claim, the reason (then no tracks). Data without strata is one stratum, "all"; without a headroom check every
    candidate counts, with the caveat that a floor may be the ceiling."""
    labels = _test_strata(results)
    candidates = [s for s in sorted(set(labels)) if s not in excluded and (only is None or s in only)]
    note = "these data have no strata: every test track" if list(candidates) == ["all"] else ""
    if not candidates:
        return np.zeros(0, dtype=int), "", f"no test track in {list(only or [])}"
    checks = results.get("headroom") or {}
    if not checks:
        return np.flatnonzero(np.isin(labels, candidates)), "; ".join(filter(None, [note, HEADROOM_CAVEAT])), ""
    missing = [s for s in candidates if s not in checks]
    qualifying = [s for s in candidates if s in checks and checks[s]["qualifies"]]
    failed = [s for s in candidates if s in checks and not checks[s]["qualifies"]]
    described = "; ".join(f"{s}: contextual reference {checks[s]['contextual']:.3f} vs frame floor "
                          f"{checks[s]['frame_floor']:.3f} (gap {checks[s]['gap']:.3f} < {checks[s]['minimum']:g})"
                          for s in failed)
    if not qualifying:
        why = "; ".join(filter(None, [f"no headroom: {described}" if failed else "",
                                      f"no headroom check for {missing}" if missing else ""]))
        return np.zeros(0, dtype=int), "", why
    used = "headroom checked: " + ", ".join(f"{s} gap {checks[s]['gap']:.3f} ({checks[s]['num_tracks']} tracks)"
                                            for s in qualifying)
    left_out = f"left out for no headroom: {', '.join(failed)}" if failed else ""
    unchecked = f"left out, not checked: {', '.join(missing)}" if missing else ""
    return np.flatnonzero(np.isin(labels, qualifying)), "; ".join(filter(None, [note, used, left_out, unchecked])), ""


def _scores(record: dict, metric: str, tracks: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(record["per_track"][metric], dtype=np.float64))[:, tracks]


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


def _untestable(claim_id: str, metric: str, label: str, why: str) -> Claim:
    return Claim(claim_id, PAPER_CLAIMS[claim_id.split(" ")[0]], metric, {}, lambda m: 0.0, label, testable=False,
                 why_not=why)


def probe_claims(trained: Mapping[str, dict], random: Mapping[str, Sequence[dict]],
                 n_resamples: int = 2000, initial: Mapping[str, dict] | None = None) -> list[Claim]:
    """Claims C1, C2, C3 and C5 from `probe_results.json` contents: `trained[task]` of the encoder under test,
    `random[task]`, one per random initialisation (seed) of its config, and `initial[task]` of the pretraining run's
    own step-0 weights where they were probed (then C2 and C3 are also tested against them: a paired design).
    Layers and representations are chosen on the validation split; local claims are tested on the strata whose
    headroom check qualifies them (`claim_strata`; beat without the easy drum grooves, reported apart; chord without
    the chorales, whose chords are estimated)."""
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
    # C3: trained against random initialisations on tagging (and against the run's step-0 weights).
    chosen = tagging and select_on_validation(tagging, "average") or tagging and select_on_validation(tagging)
    tagging_arms = [("C3", "random", random.get("tagging", []))]
    if initial and initial.get("tagging"):
        tagging_arms.append(("C3 (vs step 0)", "step 0", [initial["tagging"]]))
    for claim_id, other, runs in tagging_arms:
        baselines = [select_on_validation(r, chosen["representation"]) for r in runs] if chosen else []
        if chosen and baselines and all(b and "track_scores" in b for b in baselines) and enough:
            claims.append(Claim(claim_id, PAPER_CLAIMS["C3"], "tagging macro mAP", {}, lambda m: 0.0,
                                f"trained - {other}" + (f" ({len(baselines)} inits)" if other == "random" else ""),
                                interval=_map_difference([chosen], baselines, n_resamples)))
        else:
            claims.append(_untestable(claim_id, "tagging macro mAP", f"trained - {other}",
                                      f"tagging of the trained model or of the {other} arm is missing, or has fewer "
                                      "than 2 test tracks"))
    # C2: trained against random initialisations on beat, sequence tokens, on the strata with headroom (the easy
    # drum grooves reported apart); and, where the run's own step-0 weights were probed, against them (paired).
    beat = trained.get("beat")
    beat_arms = [("C2", "random", random.get("beat", []), {"excluded": BEAT_EXCLUDED}),
                 ("C2 (easy)", "random", random.get("beat", []), {"only": ("easy",)})]
    if initial and initial.get("beat"):
        beat_arms.append(("C2 (vs step 0)", "step 0", [initial["beat"]], {"excluded": BEAT_EXCLUDED}))
    for claim_id, other, runs, strata in beat_arms:
        label = f"trained - {other}"
        chosen = beat and select_on_validation(beat, "sequence")
        baselines = [select_on_validation(r, "sequence") for r in runs]
        if not (chosen and baselines and all(baselines)):
            claims.append(_untestable(claim_id, "beat F", label, "beat probes are missing"))
            continue
        tracks, caveat, why_not = claim_strata(beat, **strata)
        if why_not or len(tracks) < 2:
            claims.append(_untestable(claim_id, "beat F", label, why_not or "fewer than 2 test tracks"))
            continue
        arms = {"trained": Arm(_scores(chosen, "F-measure", tracks)),
                other: Arm(_stacked(baselines, "F-measure", tracks))}
        claims.append(Claim(claim_id, PAPER_CLAIMS["C2"], f"beat F (70 ms), {len(tracks)} test tracks", arms,
                            lambda m, o=other: m["trained"] - m[o], f"trained @{chosen['layers']} - {other}",
                            caveat=caveat))
    # C5: stacking 3, 6, 9, 12 lifts chord accuracy more than beat F (each against its best single layer).
    chord = trained.get("chord")
    stack = (3, 6, 9, 12)
    stacked = {task: results and _record(results, "sequence", stack) for task, results in (("chord", chord),
                                                                                           ("beat", beat))}
    single = {task: results and select_on_validation(results, "sequence", [(layer,) for layer in stack])
              for task, results in (("chord", chord), ("beat", beat))}
    chord_tracks, chord_caveat, chord_why = claim_strata(chord, CHORD_EXCLUDED) if chord else (np.zeros(0), "", "")
    beat_tracks, beat_caveat, beat_why = claim_strata(beat, BEAT_EXCLUDED) if beat else (np.zeros(0), "", "")
    if chord_why or beat_why:
        claims.append(_untestable("C5", "chord accuracy and beat F", "stack lift (chord) - stack lift (beat)",
                                  "; ".join(f"{task}: {why}" for task, why in (("chord", chord_why),
                                                                                ("beat", beat_why)) if why)))
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
            "C5", PAPER_CLAIMS["C5"], f"chord frame accuracy ({len(chord_tracks)} tracks) and beat F "
            f"({len(beat_tracks)} tracks)", arms,
            lambda m: (m["chord_stacked"] - m["chord_single"]) - (m["beat_stacked"] - m["beat_single"]),
            f"(chord: stack - @{single['chord']['layers']}) - (beat: stack - @{single['beat']['layers']})",
            caveat="; ".join(dict.fromkeys(filter(None, [f"chord: {chord_caveat}" if chord_caveat else "",
                                                         f"beat: {beat_caveat}" if beat_caveat else ""])))))
    else:
        claims.append(_untestable("C5", "chord accuracy and beat F", "stack lift (chord) - stack lift (beat)",
                                  "chord and beat were not probed on layers 3, 6, 9, 12 one by one and stacked, "
                                  "or their strata have fewer than 2 test tracks"))
    return claims


# -- the instruments per stratum ---------------------------------------------------------------------------------------

STRATA_TASKS = {name: info.tokens for name, info in TASK_INFO.items() if info.per_track}  # tasks scored per track, their tokens


def _floor(results: dict, prefix: str) -> list[dict]:
    return [record for record in results.get("floors", []) if record["representation"].startswith(prefix)]


def strata_report(trained: dict, random: Sequence[dict] = (), initial: dict | None = None,
                  n_resamples: int = 2000) -> list[dict]:
    """Per stratum of a task's test tracks (and over all of them), every arm's headline score with its 95 % interval:
    the best chance predictor, the classical method, the probes on raw log-mel frames and on layer 0, the random
    initialisations (seeds pooled), the run's step-0 weights, the trained encoder (the probe chosen on validation),
    the contextual reference; the headroom check's verdict; and the minimum detectable difference of trained -
    random on the stratum's tracks (`vit1d.stats.minimum_detectable_difference`: what this many tracks can resolve,
    at 80 % power and level 0.05). The rows `strata_markdown` writes."""
    from .stats import mean_interval, minimum_detectable_difference

    task = trained["results"][0]["task"]
    metric, kind = HEADLINE[task], STRATA_TASKS[task]
    weights = trained.get("track_weights")
    weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    labels = _test_strata(trained)
    chosen = select_on_validation(trained, kind)
    baselines = [b for b in (select_on_validation(r, kind) for r in random) if b]
    step0 = initial and select_on_validation(initial, kind)
    arms = {"chance (best)": _floor(trained, "chance: "), "classical": _floor(trained, "classical: "),
            "log-mel frames": _floor(trained, "floor: log-mel"), "layer 0": _floor(trained, "floor: layer 0"),
            "random init": baselines, "step 0": [step0] if step0 else [], "trained": [chosen] if chosen else [],
            "contextual reference": _floor(trained, "reference: contextual")}
    rows = []
    for stratum in [*sorted(set(labels)), *(["all strata"] if len(set(labels)) > 1 else [])]:
        tracks = np.flatnonzero(labels == stratum) if stratum != "all strata" else np.arange(len(labels))
        row = {"task": task, "stratum": stratum, "num_tracks": int(len(tracks)), "metric": metric, "arms": {}}
        track_weights = None if weights is None else weights[tracks]
        for name, records in arms.items():
            records = [r for r in records if metric in r.get("per_track", {})]
            if not records or len(tracks) < 2:
                continue
            if name == "chance (best)":  # the strongest chance predictor: the floor a model must clear
                records = [max(records, key=lambda r: np.nanmean(_scores(r, metric, tracks)))]
            scores = _stacked(records, metric, tracks)
            if np.isfinite(scores).any():
                row["arms"][name] = mean_interval(scores, weights=track_weights, n_resamples=n_resamples).entry()
        if chosen and baselines and len(tracks) >= 2:
            differences = (np.nanmean(_scores(chosen, metric, tracks), axis=0)
                           - np.nanmean(_stacked(baselines, metric, tracks), axis=0))
            row["mdd_trained_minus_random"] = minimum_detectable_difference(differences)
        check = (trained.get("headroom") or {}).get(stratum)
        if check:
            row["headroom"] = {"gap": check["gap"], "qualifies": check["qualifies"], "minimum": check["minimum"]}
        rows.append(row)
    return rows


def strata_markdown(rows: Sequence[dict]) -> str:
    """`strata_report` rows as one Markdown table per task."""
    tables = []
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        names = list(dict.fromkeys(name for row in task_rows for name in row["arms"]))
        lines = [f"**{task}** ({task_rows[0]['metric']}, mean [95 % CI] over the stratum's test tracks and seeds)", "",
                 "| stratum | tracks | " + " | ".join(names) + " | headroom (gap) | MDD trained - random |",
                 "|---|---|" + "---|" * (len(names) + 2)]
        for row in task_rows:
            cells = []
            for name in names:
                entry = row["arms"].get(name)
                cells.append("-" if entry is None else
                             f"{_number(entry['value'])} [{_number(entry['low'])}, {_number(entry['high'])}]")
            room = row.get("headroom")
            room_cell = "-" if room is None else f"{'yes' if room['qualifies'] else 'no'} ({_number(room['gap'])})"
            lines.append(f"| {row['stratum']} | {row['num_tracks']} | " + " | ".join(cells)
                         + f" | {room_cell} | {_number(row.get('mdd_trained_minus_random'))} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"


# -- claims from analysis results ------------------------------------------------------------------------------------


def analysis_claims(results: dict) -> list[Claim]:
    """Claims C4 and C6 from `analysis_results.json` contents (`vit1d.analysis.run_analysis`, whose onset
    configurations are chosen on the validation split and whose random arm holds several initialisations).

    C4: the test onset F of the trained encoder's chosen attention curve against the random initialisations', and
    against the chance floors (peak-picked noise, a random linear projection of the log-mel frame), paired over the
    test tracks with onsets. C6: see `_depth_claims`."""
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
    claims += _depth_claims(per_track.get("ssm", {}))
    return claims


# C6's measures: (row name, per-track measure of `analysis_results.json`'s `per_track.ssm`, how it is read).
DEPTH_MEASURES = (("C6 (harmony shallow)", "chord_change_lift", "shallow - deep"),
                  ("C6 (rhythm deep)", "beat_lag_contrast", "deep - shallow"))


def _depth_claims(ssm: Mapping[str, Mapping[str, Mapping[str, list]]]) -> list[Claim]:
    """Claim C6 (layers differ), paired over the analysed test tracks, between the shallowest and deepest SSM layers:

    - within the trained encoder, chord changes stand out more at the shallow layer (novelty lift, shallow - deep)
      and beats recur more at the deep one (beat-lag contrast, deep - shallow), as the paper's pictures suggest;
    - "vs random": the same depth difference, trained minus the random initialisations' (each seed's own difference,
      so a random encoder whose layers differ alike gives 0): depth structure that training made;
    - "(CKA)": linear CKA between the two layers' tokens, random - trained: positive when training made the layers
      less alike than they are at initialisation (a random pre-norm encoder's layers stay close to each other)."""
    trained, random = ssm.get("trained", {}), ssm.get("random_init", {})
    layers = sorted(trained, key=int)
    if len(layers) < 2:
        return [_untestable(claim_id, measure, read, "fewer than 2 SSM layers analysed")
                for claim_id, measure, read in DEPTH_MEASURES]
    shallow, deep = layers[0], layers[-1]

    def depth(arm: Mapping, measure: str, read: str) -> np.ndarray:  # (seeds, tracks): the arm's depth difference
        first, second = (np.asarray(arm[layer][measure], dtype=np.float64) for layer in (shallow, deep))
        return np.atleast_2d(first - second if read == "shallow - deep" else second - first)

    def scored(*matrices: np.ndarray) -> np.ndarray:  # tracks every arm scores
        return np.logical_and.reduce([np.isfinite(m).any(axis=0) for m in matrices])

    caveat = f"layers {shallow} and {deep}"
    claims = []
    for claim_id, measure, read in DEPTH_MEASURES:
        label = read.replace("shallow", f"layer {shallow}").replace("deep", f"layer {deep}")
        own = depth(trained, measure, read)
        keep = scored(own)
        if keep.sum() < 2:
            claims.append(_untestable(claim_id, measure, label, "fewer than 2 tracks with the annotation"))
        else:
            claims.append(Claim(claim_id, PAPER_CLAIMS["C6"], f"{measure} of the trained encoder's SSM",
                                {"trained": Arm(own[:, keep])}, lambda m: m["trained"], label,
                                caveat="the trained encoder's own layers; the row below compares random inits"))
        vs_random = f"{claim_id[:-1]}, vs random)"
        if not random or shallow not in random or deep not in random:
            claims.append(_untestable(vs_random, measure, f"trained ({label}) - random ({label})",
                                      "no random initialisation was analysed"))
            continue
        other = depth(random, measure, read)
        keep = scored(own, other)
        if keep.sum() < 2:
            claims.append(_untestable(vs_random, measure, f"trained ({label}) - random ({label})",
                                      "fewer than 2 tracks with the annotation"))
            continue
        claims.append(Claim(vs_random, PAPER_CLAIMS["C6"], f"{measure}: depth difference",
                            {"trained": Arm(own[:, keep]), "random_init": Arm(other[:, keep])},
                            lambda m: m["trained"] - m["random_init"], f"trained ({label}) - random ({label})",
                            caveat=caveat))
    label = f"random - trained CKA(layer {shallow}, layer {deep})"
    if "cka_to_deepest" not in trained.get(shallow, {}) or not random or "cka_to_deepest" not in random.get(
            shallow, {}):
        claims.append(_untestable("C6 (CKA)", "linear CKA", label, "no CKA of both the trained encoder and a random "
                                  "initialisation in these results"))
        return claims
    own, other = (np.atleast_2d(np.asarray(arm[shallow]["cka_to_deepest"], dtype=np.float64))
                  for arm in (trained, random))
    keep = scored(own, other)
    if keep.sum() < 2:
        claims.append(_untestable("C6 (CKA)", "linear CKA", label, "fewer than 2 analysed tracks"))
        return claims
    claims.append(Claim("C6 (CKA)", PAPER_CLAIMS["C6"], "linear CKA between the shallowest and deepest SSM layers",
                        {"trained": Arm(own[:, keep]), "random_init": Arm(other[:, keep])},
                        lambda m: m["random_init"] - m["trained"], label, caveat=caveat))
    return claims


__all__ = ["Claim", "ClaimResult", "INCONCLUSIVE", "MIN_TRACKS", "PAPER_CLAIMS", "REFUTED", "SUPPORTED", "analysis_claims",
           "claim_strata", "claims_table", "evaluate_claims", "probe_claims", "select_on_validation",
           "strata_markdown", "strata_report", "verdict"]

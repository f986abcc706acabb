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

    def to_dict(self) -> dict:
        return {"claim": self.claim_id, "statement": self.statement, "metric": self.metric,
                "effect": self.effect_label, "interval": self.interval.to_dict() if self.interval else None,
                "p_holm": self.p_holm, "verdict": self.verdict, "reason": self.reason, "arm_means": self.arm_means}


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
    intervals = [bootstrap_effect(claim.arms, claim.effect, n_resamples=n_resamples, seed=seed)
                 if claim.testable else None for claim in claims]
    tested = [i for i, interval in enumerate(intervals) if interval is not None]
    adjusted = dict(zip(tested, holm_adjust([intervals[i].p_value for i in tested]))) if tested else {}
    results = []
    for index, (claim, interval) in enumerate(zip(claims, intervals)):
        means = {name: arm_mean(arm) for name, arm in claim.arms.items()}
        if interval is None:
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, None, None,
                                 INCONCLUSIVE, f"not testable here: {claim.why_not}", means)
        else:
            decided, reason = verdict(interval, adjusted[index], alpha, claim.smallest_effect)
            result = ClaimResult(claim.claim_id, claim.statement, claim.metric, claim.effect_label, interval,
                                 float(adjusted[index]), decided, reason, means)
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
        lines.append(f"| {result.claim_id}: {result.statement} | {result.metric} | {result.effect_label} | "
                     + " | ".join(cells) + f" | **{result.verdict}** ({result.reason}) |")
    return "\n".join(lines) + "\n"


__all__ = ["Claim", "ClaimResult", "INCONCLUSIVE", "PAPER_CLAIMS", "REFUTED", "SUPPORTED", "claims_table",
           "evaluate_claims", "verdict"]

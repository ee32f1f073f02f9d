"""Safe retraining: whether an evaluated fine-tune may generate without the admin (a pure rule).

A fine-tune on crowd clips replaces what players hear, and the crowd's labels may be wrong or the run may
have gone bad (a learning rate too high, a poisoned batch). So a new version is made active automatically
only when its held-out metrics are no worse than its parent's (the version it started from) beyond a
stated Tolerance; otherwise it is kept, held back, and the admin decides. Retraining applies the rule
after each evaluation and stores the verdict in the version's metrics (ModelMetrics.activation).

What the rule refuses on: a guarded metric worse than the tolerance allows, a value that is not a number,
held-out sets of different sizes, spoken at different emotion strengths, with different prosody guides or
mel postfilters or mel refiners (the numbers would not be comparable), or nothing to compare at all. A
metric missing on either side is not compared, and the verdict says so in its notes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .retraining import ModelMetrics

SLACK = 1e-9  # a change exactly at the tolerance passes, whatever the float rounding


@dataclass(frozen=True)
class Tolerance:
    """How much worse than its parent a version may measure and still generate without the admin.
    Each field is the most a metric may get worse by, in its own unit; None leaves it unguarded.

    The held-out set is 48 clips (6 sentences per emotion, tts.evaluation.PER_EMOTION), so one clip moves a
    share by 2.1 points: the emotion default lets three clips' worth of noise through and refuses four."""

    wer: float | None = 0.05  # rise, as a word-error fraction: 5 points, about two sentences' words of the 48
    emotion_accuracy: float | None = 0.0625  # fall: 3 clips of 48 pass (6.25 points), 4 do not
    dnsmos: float | None = 0.1  # fall, on DNSMOS's 1-5 scale: a tenth of a grade
    stopped_share: float | None = 0.05  # fall: two more sentences of 48 that run to the step limit pass
    # rise in teacher-forced log-mel L1: the shipped model's is 0.573 and a rerun moves it by 0.001, while its
    # second training run gained 0.2; half that may go to the crowd's voices, more is a damaged decoder
    mel_l1: float | None = 0.1


@dataclass(frozen=True)
class Guarded:
    """One guarded metric: its ModelMetrics key, its name in a sentence, which way is better, and its
    unit (a share shown in points, or a plain number)."""

    key: str
    name: str
    higher_is_better: bool
    share: bool


GUARDED = (  # in Tolerance's order; the verdict's sentences come in this order
    Guarded("wer", "WER", higher_is_better=False, share=True),
    Guarded("emotion_accuracy", "emotion accuracy", higher_is_better=True, share=True),
    Guarded("dnsmos", "DNSMOS", higher_is_better=True, share=False),
    Guarded("stopped_share", "stop share", higher_is_better=True, share=True),
    Guarded("mel_l1", "mel L1", higher_is_better=False, share=False),
)


@dataclass(frozen=True)
class ActivationVerdict:
    """The rule's answer: activate or not, one sentence per reason not to, the metrics compared, and notes on
    those that were not (missing on a side)."""

    activate: bool
    reasons: tuple[str, ...]
    compared: tuple[str, ...]
    parent_version: str | None
    notes: tuple[str, ...] = ()
    tolerance: Tolerance = Tolerance()

    def refused(self, reason: str) -> ActivationVerdict:
        """The same verdict, held back for one more reason (one the metrics cannot see)."""
        return replace(self, activate=False, reasons=(*self.reasons, reason))

    def as_dict(self) -> dict:
        """As kept in the version's metrics ("activated": the rule let it generate, and it was made active)."""
        return {"activated": self.activate, "reasons": list(self.reasons), "compared": list(self.compared),
                "notes": list(self.notes), "parent_version": self.parent_version,
                "tolerance": asdict(self.tolerance)}


@dataclass(frozen=True)
class Rendering:
    """How a version's held-out set was spoken: the emotion strength, the prosody guide (tts/guide.py), the
    mel postfilter's beta (tts/postfilter.py) and the mel refiner's version (tts/refiner.py). Numbers measured
    under two renderings are not comparable, so the rule, the parent's row and the parent's cache all ask this
    one question here. The defaults are what metrics from before each of them mean: strength 1, no guide, no
    postfilter, no refiner."""

    strength: float = 1.0
    guide: str = "off"
    postfilter: float = 0.0
    refiner: str = ""  # a refiner's version; "": none

    def difference(self, parent: Rendering) -> str | None:
        """Why this rendering and the parent's make numbers that are not comparable; None when they are alike."""
        if not math.isclose(self.strength, parent.strength):
            return (f"the versions spoke the held-out set at different emotion strengths ({self.strength:g} "
                    f"against the parent's {parent.strength:g})")
        if self.guide != parent.guide:
            return (f"the versions spoke the held-out set with different prosody guides ({self.guide} against "
                    f"the parent's {parent.guide})")
        if not math.isclose(self.postfilter, parent.postfilter):
            return (f"the versions spoke the held-out set through different mel postfilters (beta "
                    f"{self.postfilter:g} against the parent's {parent.postfilter:g})")
        if self.refiner != parent.refiner:
            return (f"the versions spoke the held-out set through different mel refiners ({self.refiner or 'none'} "
                    f"against the parent's {parent.refiner or 'none'})")
        return None

    def suffix(self, guide_revision: int) -> str:
        """A file-name suffix that tells renderings apart (the guide's revision too, since a revised guide
        speaks differently); empty for the defaults, so files from before any of them keep their names."""
        at = "" if math.isclose(self.strength, 1.0) else f"-strength{self.strength:g}"
        at += "" if self.guide == "off" else f"-guide-{self.guide.replace('+', '-')}-r{guide_revision}"
        at += "" if math.isclose(self.postfilter, 0.0) else f"-postfilter{self.postfilter:g}"
        return at + (f"-refiner{self.refiner}" if self.refiner else "")


DEFAULT_RENDERING = Rendering()  # what metrics from before the four mean


def rendering_of(metrics: ModelMetrics) -> Rendering:
    """The rendering a version's held-out set was spoken with, by its metrics (absent: the default)."""
    return Rendering(
        strength=1.0 if metrics.emotion_strength is None else metrics.emotion_strength,
        guide=metrics.prosody_guide or "off",
        postfilter=0.0 if metrics.mel_postfilter is None else metrics.mel_postfilter,
        refiner=metrics.mel_refiner or "",
    )


def held_back(parent_version: str | None, reason: str, tolerance: Tolerance) -> ActivationVerdict:
    """A verdict with nothing compared: the rule could not run (no parent, the parent unmeasurable)."""
    return ActivationVerdict(False, (reason,), (), parent_version, (), tolerance)


def activation_verdict(child: ModelMetrics, parent: ModelMetrics, tolerance: Tolerance,
                       parent_version: str | None = None) -> ActivationVerdict:
    """Whether child may generate in place of parent: every guarded metric present on both sides is no
    worse than tolerance allows. Refused when the held-out sets differ in size, emotion strength, prosody guide,
    mel postfilter or mel refiner, or nothing was compared."""
    if child.held_out_clips != parent.held_out_clips:
        return held_back(parent_version, f"the held-out sets differ ({child.held_out_clips} clips against the "
                                         f"parent's {parent.held_out_clips}): the numbers are not comparable",
                         tolerance)
    different = rendering_of(child).difference(rendering_of(parent))
    if different:  # Retraining measures the parent the child's way; this is the last guard
        return held_back(parent_version, f"{different}: the numbers are not comparable", tolerance)
    reasons, compared, notes = [], [], []
    for g in GUARDED:
        allowed = getattr(tolerance, g.key)
        mine, theirs = getattr(child, g.key), getattr(parent, g.key)
        if allowed is None:
            continue
        if mine is None or theirs is None:
            side = "neither version has a value" if mine is None and theirs is None else (
                "the new version has no value" if mine is None else "the parent has no value")
            notes.append(f"{g.name} not compared: {side}")
            continue
        if not math.isfinite(theirs):
            notes.append(f"{g.name} not compared: the parent's is {theirs}")
            continue
        compared.append(g.key)
        if not math.isfinite(mine):
            reasons.append(f"{g.name} is {mine}, not a number, against the parent's {theirs:.3f}")
            continue
        worse = theirs - mine if g.higher_is_better else mine - theirs
        if worse > allowed + SLACK:
            reasons.append(f"{g.name} {mine:.3f} against the parent's {theirs:.3f}: "
                           f"{_amount(g, worse)} worse, more than the {_amount(g, allowed, bare=True)} allowed")
    if not compared:
        reasons.append("no guarded metric was measured on both versions: nothing shows the new one is as good")
    return ActivationVerdict(not reasons, tuple(reasons), tuple(compared), parent_version, tuple(notes), tolerance)


def _amount(g: Guarded, amount: float, bare: bool = False) -> str:
    """A difference: in points for a share ("16.6 points"; bare: "5"), else as a number."""
    if g.share:
        points = f"{amount * 100:.2f}".rstrip("0").rstrip(".") if bare else f"{amount * 100:.1f}"
        return points if bare else f"{points} points"
    return f"{amount:.3g}" if bare else f"{amount:.3f}"

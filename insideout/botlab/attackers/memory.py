"""The memory attacker: it recognises clips it has heard before and remembers what the server said.

The server varies every serving (gain within +-1 dB, 0-120 ms of silence at each end, dither), so no two
servings hash alike; but the sound is the same, and a fingerprint of the sound survives. Here: the log
energy of five frequency bands (up to 6 kHz) in 20 ms frames every 5 ms, from where a smoothed envelope
first rises 30 dB under its peak to where it last does, relative to the clip's mean level and clipped
50 dB under its loudest. Gain moves every value alike (removed with the mean), the added silence is
trimmed, the dither lies under the clip floor, and the frame grid is anchored on the energy's centre in
time, which neither moves. Measured on 192 clips of the starter recipe, three servings each: 576 of 576
recognised, none taken for another clip; two servings of a clip differ by at most 0.08 dB, two different
clips by at least 2.1 dB (0.65 dB for two test tones that differ only in their noise).

Only the control's answer decides a round, and the bot does not know which slot it was. A round of one
slot is exact: its outcome is that clip's (right: its label; wrong: that emotion ruled out). A round of two
slots is evidence, not proof, since the other slot may be an unverified clip or, once the server shows a
decoy beside the control, another play clip whose answer was not scored either way: with the control one of
the two at random and the other slot's answer right about Q = 1/3 of the time, a passed round makes "this
clip is the emotion it was answered" (1 + Q) / Q = 4 times likelier, a failed one (1 - Q) / (2 - Q) = 0.4
times. Every clip is answered as though it were a control: its proven label, else the emotion with the most
evidence that no exact round ruled out, ties in the seed's order (so a clip tried wrong moves on to the
next emotion). Being wrong about an unverified clip or a decoy costs nothing.

Which rounds were right is exact under a 1-of-N policy (`passed` right, `retry`/`failed` wrong). Under
k-of-N a `retry` does not say: a challenge's last round is learnt when it ends (a pass follows a right
answer and a failure a wrong one, whatever k is), and its earlier rounds only when the final status
decides them (all right, or all wrong). k, when not given, is inferred from the round numbers of passes
and failures; earlier rounds that only k would decide wait until it is known.

It assumes what the arena shows: the same clips come back (the play pool is finite: 192 clips in the
starter library), and a clip keeps its label. A clip whose label stops passing (it moved pools) is
unlearnt. This attacker is the regression guard a defence against replayed clips must flip.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..arena import Attacker, Round

FRAME_S = 0.02
HOP_S = 0.005
MAX_LAG = 2  # hops either way
TRIM_DB = -30.0  # below the envelope's peak: where a clip's own sound starts and ends (dither: about -80 dB)
SMOOTH_S = 0.005
FLOOR_DB = -50.0  # energies are clipped here, so pauses (and the dither in them) weigh nothing
BAND_EDGES_HZ = (0, 300, 700, 1500, 3000, 6000)  # above 6 kHz speech is near the dither: left out
LENGTH_TOLERANCE = 8  # hops: a trim point moves by a few ms where a clip fades, never by 40 ms
MATCH_THRESHOLD_DB = 0.25  # mean absolute dB difference: servings measured <= 0.08, other clips >= 0.65


def fingerprint(wav_bytes: bytes) -> np.ndarray:
    """frames x bands of log energies (dB) of a served WAV's sound, relative to its mean level."""
    import soundfile as sf

    samples, sr = sf.read(io.BytesIO(wav_bytes), dtype="float32", always_2d=True)
    return fingerprint_samples(samples.mean(axis=1), int(sr))


def fingerprint_samples(x: np.ndarray, sr: int) -> np.ndarray:
    """fingerprint() of float samples."""
    x = np.asarray(x, dtype=np.float64)
    if not x.size or not np.abs(x).max() > 0:
        return np.zeros((0, len(BAND_EDGES_HZ) - 1))
    # The edges are where a smoothed envelope crosses the threshold. They still move by a few ms with the
    # dither where a clip fades in slowly, so the frame grid is anchored on the energy's centre in time
    # instead, which dither and gain do not move: two servings then share one grid, give or take a frame.
    smooth = int(round(SMOOTH_S * sr))
    envelope = np.convolve(np.abs(x), np.ones(smooth) / smooth, mode="same")
    loud = np.flatnonzero(envelope >= envelope.max() * 10 ** (TRIM_DB / 20))
    energy = x**2
    centre = float((np.arange(x.size) * energy).sum() / energy.sum())
    frame, hop = int(round(FRAME_S * sr)), int(round(HOP_S * sr))
    start = int(round(centre - hop * np.floor((centre - loud[0]) / hop)))
    x = x[start: loud[-1] + 1]
    x = np.pad(x, (0, max(0, frame - x.size)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1 / sr)
    bands = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
                      for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:], strict=True)], axis=1)
    db = 10 * np.log10(bands + 1e-20)
    db = np.maximum(db, db.max() + FLOOR_DB)
    return db - db.mean()


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute dB difference over the frames both have, at the best lag of a few hops; infinite when
    their lengths differ by more than a trim can explain."""
    if abs(len(a) - len(b)) > LENGTH_TOLERANCE or min(len(a), len(b)) <= 2 * MAX_LAG:
        return float("inf")
    best = float("inf")
    for lag in range(-MAX_LAG, MAX_LAG + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        best = min(best, float(np.abs((x - x.mean()) - (y - y.mean())).mean()))
    return best


def match(fp: np.ndarray, known: Sequence[np.ndarray], threshold: float = MATCH_THRESHOLD_DB) -> int | None:
    """The index of the nearest known fingerprint within threshold, or None."""
    best, best_d = None, threshold
    for i, other in enumerate(known):
        d = distance(fp, other)
        if d <= best_d:
            best, best_d = i, d
    return best


@dataclass
class _Clip:
    """What the bot knows of one clip, assuming it is a control (see the module docstring)."""

    label: str | None = None  # proven by a passed round of this clip alone
    wrong: set[str] = field(default_factory=set)  # ruled out by a failed round of this clip alone
    servings: int = 0
    evidence: dict[str, float] = field(default_factory=dict)  # emotion -> log likelihood ratio from shared rounds


SHARED_RIGHT = math.log(4.0)  # log((1 + Q) / Q), Q = 1/3: see the module docstring
SHARED_WRONG = math.log(0.4)  # log((1 - Q) / (2 - Q))


def record_outcome(clip, emotion: str, right: bool) -> None:
    """What a decided round teaches about one clip answered `emotion` (clip: anything with a `label` and a
    `wrong` set; the adaptive attacker's clips too). Right: that is its label. Wrong: rule the emotion out,
    and forget a label it contradicts (the clip stopped passing: it moved pools, or was never a control)."""
    if right:
        clip.label = emotion
        return
    clip.wrong.add(emotion)
    if clip.label == emotion:
        clip.label = None


class MemoryAttacker:
    """Fingerprints every clip it is served and answers from what past outcomes taught it.

    fallback answers the clips it hears for the first time (default: a uniform guess with the seed);
    rounds_to_pass is the policy's k when known (the page shows the policy), else inferred."""

    name = "memory"

    def __init__(self, seed: int = 0, fallback: Attacker | None = None, rounds_to_pass: int | None = None):
        if fallback is None:
            from .random_guess import RandomGuesser

            fallback = RandomGuesser(seed)
        self.fallback = fallback
        self._order_rng = random.Random(seed + 1)
        self._fingerprints: list[np.ndarray] = []
        self._clips: list[_Clip] = []
        self._order: tuple[str, ...] = ()
        self._serving: dict[str, int] = {}  # slot -> clip index, for the rounds in play
        self._challenge: list[tuple[tuple[int, ...], dict[int, str]]] = []  # rounds of the challenge in play
        self._waiting: list[tuple[list, str, int, int]] = []  # challenges played before k was known
        self.rounds_to_pass = rounds_to_pass
        self._k_low, self._k_high = 1, None  # what the statuses seen so far allow of k

    # -- recognising ---------------------------------------------------------------------------

    @property
    def clips_known(self) -> int:
        return len(self._clips)

    def _recognise(self, audio: bytes) -> int:
        fp = fingerprint(audio)
        index = match(fp, self._fingerprints)
        if index is None:
            self._fingerprints.append(fp)
            self._clips.append(_Clip())
            index = len(self._clips) - 1
        self._clips[index].servings += 1
        return index

    # -- answering -----------------------------------------------------------------------------

    def answer(self, round: Round) -> dict[str, str]:
        if not self._order:
            self._order = tuple(self._order_rng.sample(list(round.emotions), len(round.emotions)))
        indices = {slot: self._recognise(round.audio[slot]) for slot in round.slots}
        self._serving = indices
        unknown = [slot for slot, i in indices.items() if self._clips[i].servings == 1]
        guesses = self.fallback.answer(round) if unknown else {}
        out = {}
        for slot, i in indices.items():
            clip = self._clips[i]
            if clip.label is not None:
                out[slot] = clip.label
            elif slot in unknown:
                out[slot] = guesses[slot]
            else:
                left = [e for e in self._order if e not in clip.wrong] or list(self._order)
                out[slot] = max(left, key=lambda e: clip.evidence.get(e, 0.0))  # max keeps the first of ties
        return out

    # -- learning ------------------------------------------------------------------------------

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        self.fallback.learn(round, answers, status)
        indices = self._serving
        self._challenge.append((tuple(indices[s] for s in round.slots),
                                {indices[s]: answers[s] for s in round.slots}))
        if status == "retry":
            if self.rounds_to_pass == 1:  # under 1-of-N a retry is a wrong round: learn it now
                self._apply(self._challenge.pop(), right=False)
            return
        rounds, self._challenge = self._challenge, []
        # a pass always follows a right answer and a failure a wrong one, whatever k is
        self._apply(rounds[-1], right=status == "passed")
        if self._infer_k(status, round.number, round.max_rounds):
            waiting, self._waiting = self._waiting, []
            for challenge in waiting:
                self._settle(*challenge)
        self._settle(rounds[:-1], status, round.number, round.max_rounds)

    def _candidates(self, max_rounds: int) -> range:
        if self.rounds_to_pass is not None:
            return range(self.rounds_to_pass, self.rounds_to_pass + 1)
        return range(self._k_low, (self._k_high or max_rounds) + 1)

    def _infer_k(self, status: str, number: int, max_rounds: int) -> bool:
        """Narrow what k can be; True when this status made it known. A pass at round r needs k <= r;
        a failure at round r needs k >= max_rounds - r + 1 (no rounds left to make up for it)."""
        if self.rounds_to_pass is not None:
            return False
        if status == "passed":
            self._k_high = min(self._k_high or max_rounds, number)
        else:
            self._k_low = max(self._k_low, max_rounds - number + 1)
        candidates = self._candidates(max_rounds)
        if len(candidates) == 1:
            self.rounds_to_pass = candidates[0]
            return True
        return False

    def _settle(self, earlier: list, status: str, number: int, max_rounds: int) -> None:
        """Learn the rounds before a challenge's last when its final status decides them for every k still
        possible: all right or all wrong. Otherwise they wait until k is known."""
        if not earlier:
            return
        decisions = set()
        for k in self._candidates(max_rounds):
            # right answers among the earlier rounds: k-1 before a pass; before a failure at round r,
            # k-1-(max_rounds-r) (one more, and the rounds left would still have sufficed)
            right = k - 1 if status == "passed" else k - 1 - (max_rounds - number)
            decisions.add(True if right == len(earlier) else False if right == 0 else None)
        if decisions == {True} or decisions == {False}:
            for played in earlier:
                self._apply(played, right=decisions == {True})
        elif self.rounds_to_pass is None:
            self._waiting.append((earlier, status, number, max_rounds))

    def _apply(self, played: tuple[tuple[int, ...], dict[int, str]], right: bool) -> None:
        _, answers = played
        if len(answers) == 1:  # the control alone: exact
            for index, emotion in answers.items():
                record_outcome(self._clips[index], emotion, right)
            return
        for index, emotion in answers.items():
            clip = self._clips[index]
            clip.evidence[emotion] = clip.evidence.get(emotion, 0.0) + (SHARED_RIGHT if right else SHARED_WRONG)

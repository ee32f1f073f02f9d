"""The bot lab's attackers, and the registry that names them for `insideout bots evaluate`.

- random_guess: RandomGuesser, a uniform guess per slot; the floor every policy is measured against;
- sybil: SybilVoter, one new client identity per challenge, an inner attacker on the control and a label
  of its choosing on the other slot: it tries to push unverified clips into the learning pool
  ("sybil"; "sybil-every" plants its label on every slot, which beats the split when the inner attacker
  is no better than chance; "sybil-acoustic" answers with the acoustic attacker, so its plants count;
  "sybil-acoustic-spread" is that one with each address in a /24 network of its own, as a botnet's are);
- memory: MemoryAttacker, recognises served clips by a fingerprint that survives the serving variation and
  remembers what each round's outcome says about them (the replay attack a fresh-clip defence must stop);
- acoustic: AcousticAttacker, a classifier trained only on clips it renders itself from the public recipe
  (the offline voices and emotion presets, its own sentences and seed), cached under the user's cache dir;
  "acoustic-aware" renders that recipe through the shipped defaults' fresh-clip and serving defences (their
  strengths are public, the deployment's secret is not: each sentence gets a secret of its own);
- transcript: TranscriptAttacker, recognises each clip's words offline and names the emotion from them with
  a text classifier fitted on transcripts of recipe clips: the check that the sentences carry no emotion
  (it should stay at chance);
- adaptive: AdaptiveAttacker, the acoustic attacker that also learns from the deployment: it keeps each
  served clip's features and what the answers proved of its label, and refits every 50 challenges.

ATTACKERS maps a name to a factory taking a seed; each factory imports its module when called, so the
registry stays cheap to import (an attacker with torch or librosa costs only when it is chosen). To add
one, add a line: `"name": _factory_function`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..arena import Attacker

Factory = Callable[[int], Attacker]

SYBIL_LABEL = "angry"  # the registry's Sybil pushes every unverified clip it meets towards this label


def _random(seed: int) -> Attacker:
    from .random_guess import RandomGuesser

    return RandomGuesser(seed)


def _sybil(seed: int) -> Attacker:
    from .random_guess import RandomGuesser
    from .sybil import SybilVoter

    return SybilVoter(lambda round: SYBIL_LABEL, seed, RandomGuesser(seed + 1))


def _sybil_every(seed: int) -> Attacker:
    from .random_guess import RandomGuesser
    from .sybil import SybilVoter

    return SybilVoter(lambda round: SYBIL_LABEL, seed, RandomGuesser(seed + 1), plant="every")


def _sybil_acoustic(seed: int, spread: bool = False) -> Attacker:
    """The Sybil with the acoustic attacker on the control: its planted labels count whenever that is right."""
    from .sybil import SybilVoter

    voter = SybilVoter(lambda round: SYBIL_LABEL, seed, _acoustic(seed), spread=spread)
    voter.name = "sybil-acoustic-spread" if spread else "sybil-acoustic"
    return voter


def _sybil_acoustic_spread(seed: int) -> Attacker:
    """sybil-acoustic with every address in a /24 of its own: what a cap on votes per network cannot group."""
    return _sybil_acoustic(seed, spread=True)


def _memory(seed: int) -> Attacker:
    from .memory import MemoryAttacker

    return MemoryAttacker(seed)


def _acoustic(seed: int) -> Attacker:
    import os
    from pathlib import Path

    from .acoustic import AcousticAttacker

    # Fitting renders 512 clips (minutes): keep it between runs, keyed inside by the recipe.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "insideout" / f"acoustic-{seed}.pkl"
    return AcousticAttacker(seed, cache=cache)


def _acoustic_aware(seed: int) -> Attacker:
    from .acoustic import AcousticAttacker, Defences

    # renders its recipe through the shipped defaults' defences, each sentence under a secret of its own
    return AcousticAttacker(seed, cache=_cache_dir() / f"acoustic-aware-{seed}.pkl", defences=Defences.shipped())


def _cache_dir():
    import os
    from pathlib import Path

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "insideout"


def _transcript(seed: int) -> Attacker:
    from .transcript import TranscriptAttacker

    # Fitting renders and recognises 128 clips (about a minute): keep the text model, keyed by the recipe.
    return TranscriptAttacker(seed, cache=_cache_dir() / f"transcript-{seed}.pkl")


def _adaptive(seed: int) -> Attacker:
    from .adaptive import AdaptiveAttacker

    # the recipe's feature matrix is kept beside the acoustic classifier, so its first refit renders nothing
    return AdaptiveAttacker(seed, base=_acoustic(seed), cache=_cache_dir() / f"adaptive-{seed}.pkl")


ATTACKERS: dict[str, Factory] = {
    "random": _random,
    "sybil": _sybil,
    "sybil-every": _sybil_every,
    "sybil-acoustic": _sybil_acoustic,
    "sybil-acoustic-spread": _sybil_acoustic_spread,
    "memory": _memory,
    "acoustic": _acoustic,
    "acoustic-aware": _acoustic_aware,
    "transcript": _transcript,
    "adaptive": _adaptive,
}

"""How fresh clips depart from the public recipe: per deployment by a secret, per clip by chance.

The presets (presets.py) and voices are open source, so anyone can render clips like the starter
library's and fit a classifier on them: the bot lab's acoustic attacker does, and names about 80 % of
controls right. Fresh clips (restock.py) are therefore rendered from a recipe the public one only
approximates:

- **per deployment** (`spread`, the setting PRESET_VARIATION): each emotion's deviation from neutral in
  every preset field is scaled by a factor drawn from the deployment's secret (HMAC-SHA256 of the secret
  key, the emotion and the field), within 1 +- spread, for the four cue fields (F0 level, F0 range, rate,
  energy) and the contour and voice-quality ones (slope, final movement, tremolo depth, jitter,
  breathiness, creak, tilt) alike. The quality fields move the measured cues too (a final fall or creak
  lowers the median F0; breath and tilt move the syllable detector), so letting them vary twice as far
  broke the 20 % bound on 8 of 27 cues at spread 0.15 (`insideout bots cues`). Neutral has no deviation
  and stays neutral. Another deployment has another recipe, and nobody without its secret can
  render it.
- **per clip** (`pitch_st` and `tempo`, the settings CLIP_PITCH_ST and CLIP_TEMPO): a speaker-like
  shift that every emotion gets alike: the voice's F0 moves by up to +- pitch_st semitones, its formants
  a third as far (as between speakers: a higher voice tends to a shorter vocal tract), and its tempo by
  a factor within 1 +- tempo. A person hears an emotion against the voice speaking it; a classifier fitted
  on the public voices reads absolute F0 and rate against those voices.

The draws are uniform and centred, so over many clips each emotion's mean difference from neutral moves
only by the deployment's factor; single clips scatter more, which the cue check reports too.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, replace

import numpy as np

from .presets import EmotionPreset, preset_for

CUE_FIELDS = ("rate", "pitch_st", "range_factor", "energy_db")  # what the cue check measures
QUALITY_FIELDS = ("slope_st", "final_st", "tremolo_st", "jitter_st", "breathiness", "creak",
                  "tilt_db_per_octave")
FACTOR_FIELDS = ("rate", "range_factor")  # multiplicative fields: their deviation is a log
UNIT_FIELDS = ("breathiness", "creak")  # 0..1
FORMANT_SHARE = 1 / 3  # formants move a third as far as F0 (in log frequency), as between speakers


@dataclass(frozen=True)
class Variation:
    """The deployment's departure from the public recipe (see the module docstring). The default is none."""

    key: bytes = b""
    spread: float = 0.0
    pitch_st: float = 0.0
    tempo: float = 0.0

    @classmethod
    def for_deployment(cls, secret_key: str, spread: float, pitch_st: float, tempo: float) -> Variation:
        # a key of its own, derived: the pass-token key never signs anything else
        key = hmac.new(secret_key.encode(), b"insideout-preset-variation-1", hashlib.sha256).digest()
        return cls(key, float(spread), float(pitch_st), float(tempo))

    @property
    def active(self) -> bool:
        return bool(self.spread or self.pitch_st or self.tempo)

    def factor(self, emotion_id: str, field: str) -> float:
        """This deployment's scale on one field's deviation from neutral, in 1 +- width."""
        width = self.spread
        if not width:
            return 1.0
        digest = hmac.new(self.key, f"{emotion_id}|{field}".encode(), hashlib.sha256).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64 * 2.0 - 1.0
        return max(0.0, 1.0 + width * u)

    def preset(self, emotion_id: str) -> EmotionPreset:
        """The deployment's preset of an emotion: the public one with every deviation scaled."""
        base = preset_for(emotion_id)
        if not self.spread:
            return base
        changes = {}
        for name in CUE_FIELDS + QUALITY_FIELDS:
            value, k = getattr(base, name), self.factor(base.emotion_id, name)
            if name in FACTOR_FIELDS:
                changes[name] = math.exp(math.log(value) * k)
            elif name in UNIT_FIELDS:
                changes[name] = min(1.0, value * k)
            else:
                changes[name] = value * k
        return replace(base, **changes)

    def voice_shift(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """One clip's speaker-like shift: (F0 semitones, formant scale, tempo factor)."""
        u = rng.uniform(-1.0, 1.0, 2)
        pitch = float(self.pitch_st * u[0])
        return pitch, float(2.0 ** (FORMANT_SHARE * pitch / 12.0)), float(1.0 + self.tempo * u[1])

    def describe(self) -> dict[str, float]:
        """What the provenance records: the strengths, never the key."""
        return {"spread": self.spread, "pitch_st": self.pitch_st, "tempo": self.tempo}


NONE = Variation()

"""Per-emotion prosody and voice-quality presets of the starter library: the one table to read and tune.

Every clip is spoken by a neutral text-to-speech voice and then given its emotion by the preset below
(see synth.py for how each field is realized). The directions follow the emotional-speech literature
(Murray & Arnott 1993; Banse & Scherer 1996; Juslin & Laukka 2003; Scherer 2003), relative to neutral:

| emotion   | rate     | F0 level  | F0 range  | energy   | contour                  | voice quality                 |
|-----------|----------|-----------|-----------|----------|--------------------------|-------------------------------|
| neutral   | =        | =         | =         | =        | as spoken                | as spoken (identity preset)   |
| calm      | slower   | lower     | narrower  | softer   | gentle fall              | soft (steeper tilt), airy     |
| happy     | faster   | higher    | wider     | louder   | rising drift, final rise | bright (flatter tilt)         |
| sad       | slower   | lower     | narrowest | softest  | falling, final fall      | breathy, soft (steep tilt)    |
| angry     | faster   | higher    | wider     | loudest  | falling, sharp final fall| tense: flat tilt, rough       |
| fearful   | fastest  | high      | wider     | = / +    | final rise               | tremolo, jitter, breathy      |
| disgust   | slowest- | lowest    | slightly  | softer   | falling, deep final fall | creaky (phrase-final), dark   |
|           | ish      |           | wider     |          |                          |                               |
| surprised | =        | highest   | widest    | louder   | rising, big final rise   | bright                        |

Units: rate is a tempo factor (>1 faster); pitch and contour values are semitones (st); range is a
factor on the F0 excursion around the utterance median (log scale: 1 keeps it, 0.5 halves it);
energy is dB relative to the library's reference speech level; tilt is dB per octave above 500 Hz
(positive = brighter, more vocal effort; negative = softer, darker); breathiness and creak are 0..1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from insideout.emotions import EMOTION_IDS, emotion


@dataclass(frozen=True)
class EmotionPreset:
    emotion_id: str
    rate: float = 1.0  # tempo factor: engine speaking rate (piper length_scale = 1/rate, espeak wpm x rate)
    pitch_st: float = 0.0  # F0 level shift
    range_factor: float = 1.0  # factor on F0 excursion around the median
    energy_db: float = 0.0  # speech level relative to the reference level
    slope_st: float = 0.0  # F0 drift from the first to the last voiced frame (declination < 0)
    final_st: float = 0.0  # F0 movement over the last ~0.4 s of voicing (rise > 0, fall < 0)
    tremolo_hz: float = 0.0  # rate of a periodic F0 wobble (fear: vocal tremor)
    tremolo_st: float = 0.0  # its depth
    jitter_st: float = 0.0  # random frame-to-frame F0 perturbation (std): unsteady voice
    breathiness: float = 0.0  # 0..1: share of harmonic energy turned into aspiration noise
    creak: float = 0.0  # 0..1: phrase-final creaky voice (lowered, irregular F0)
    tilt_db_per_octave: float = 0.0  # spectral tilt change above 500 Hz (vocal effort)

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


PRESETS: dict[str, EmotionPreset] = {
    preset.emotion_id: preset
    for preset in (
        EmotionPreset("neutral"),
        EmotionPreset(
            "calm", rate=0.88, pitch_st=-1.0, range_factor=0.75, energy_db=-4.0,
            slope_st=-1.0, final_st=-1.0, breathiness=0.15, tilt_db_per_octave=-1.5,
        ),
        EmotionPreset(
            "happy", rate=1.08, pitch_st=3.0, range_factor=1.5, energy_db=2.0,
            slope_st=0.5, final_st=1.5, tilt_db_per_octave=1.0,
        ),
        EmotionPreset(
            "sad", rate=0.80, pitch_st=-2.0, range_factor=0.5, energy_db=-6.0,
            slope_st=-1.0, final_st=-1.5, jitter_st=0.1, breathiness=0.35,
            tilt_db_per_octave=-3.0,
        ),
        EmotionPreset(
            "angry", rate=1.10, pitch_st=1.5, range_factor=1.35, energy_db=5.0,
            slope_st=-1.0, final_st=-3.0, jitter_st=0.1, tilt_db_per_octave=3.0,
        ),
        EmotionPreset(
            "fearful", rate=1.15, pitch_st=4.0, range_factor=1.15, energy_db=1.0,
            final_st=1.5, tremolo_hz=6.5, tremolo_st=0.8, jitter_st=0.25, breathiness=0.25,
            tilt_db_per_octave=0.5,
        ),
        EmotionPreset(
            "disgust", rate=0.85, pitch_st=-2.5, range_factor=1.1, energy_db=-1.0,
            slope_st=-1.5, final_st=-4.0, jitter_st=0.1, breathiness=0.1, creak=0.5,
            tilt_db_per_octave=-1.0,
        ),
        EmotionPreset(
            "surprised", rate=1.02, pitch_st=4.5, range_factor=1.9, energy_db=2.0,
            slope_st=0.5, final_st=7.0, tilt_db_per_octave=1.0,
        ),
    )
}

if tuple(PRESETS) != EMOTION_IDS:  # the table must follow the canonical emotion list, in order
    raise RuntimeError("PRESETS must hold exactly one preset per emotion of insideout.emotions")


def preset_for(emotion_id: str) -> EmotionPreset:
    """The preset of this emotion; a ValueError (UnknownEmotion) names the valid ids otherwise."""
    return PRESETS[emotion(emotion_id).id]

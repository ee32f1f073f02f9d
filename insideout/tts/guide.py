"""The prosody guide: an emotion's pitch and tempo given to the acoustic model's mel before the vocoder hears it.

Why: the acoustic model's mels carry almost no harmonic detail below 1 kHz (prosody.mel_ripple_db: 0.7 dB
where the teacher's clips carry 3.7 dB, teacher-forced too), so the vocoder invents each clip's pitch, up to
an octave off from clip to clip, and no emotion's pitch reaches the listener; and the model learned little of
the presets' tempo (happy and fearful speak no faster than neutral: the model card's "Prosody"). HiFi-GAN,
trained on real mels, follows the harmonics a mel shows: a harmonic comb at F0 drawn into the low bins makes
it speak at that F0 (within a few per cent, measured). So generation can give every clip a steady register,
its emotion's intonation and its emotion's tempo without training, for some array arithmetic per clip and,
for tempo, the model's neutral rendering of the same sentence.

Pitch, one clip step by step:
1. voicing(): which mel frames are voiced, softly (strong low band against the clip's loudest and the
   2 kHz-and-up band).
2. neutral_contour(): a plain neutral intonation over the voiced frames, in semitones: a declination across
   the utterance and a rise-fall over each voiced run (a syllable-sized "hat"), about as wide as the teacher's
   espeak-ng voices' neutral speech (4-5 semitones, 10th to 90th percentile).
3. corpus.synth.reshape_f0(): the emotion preset's F0 fields (level, range, slope, final rise or fall,
   tremolo, jitter, creak), exactly as the teacher's clips realize them, about the voice's register.
4. imprint(): the comb of each frame's F0, as the mel filterbank sees it, added to the bins below 3 kHz
   where the frame is voiced, deep enough that the mel's ripple below 1 kHz is the teacher's (RIPPLE_DB).
The register is a starter voice's (REGISTERS_HZ: the median F0 of each teacher voice's neutral speech,
measured): the clip's speaker's, or for a model without speakers the voice the caller names (generation takes
them in turn, evaluation the compared teacher clip's: at one register for all, the strong judge named 21 of
48 held-out clips' emotions, at the voices' 27), or BLEND_REGISTER_HZ for none.

Tempo: the clip's mel is stretched in time (stretch()) so that it lasts as long as the model's neutral
rendering of the same sentence divided by the preset's rate (tempo_factor()), as the teacher's engines speak
each preset's rate; never beyond TEMPO_LIMITS.

GUIDES names what a synthesizer can apply: off, pitch, tempo or both. Nothing here knows of the web or of
storage.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..settings import PROSODY_GUIDES as GUIDES  # INSIDEOUT_PROSODY_GUIDE's values: off, pitch, tempo, both
from .mel import MEL, centre_frequencies, checked_log_mel

# The median F0 of each starter voice's neutral clips (the held-out set's, both draws; Harvest): what a clip
# spoken "as" that voice is guided around. tests/test_guide.py checks them against freshly rendered clips.
REGISTERS_HZ = {"piper-joe": 146.0, "piper-joe-high": 168.0, "espeak-m": 105.0, "espeak-f": 180.0,
                "espeak-gb-m": 110.0}
BLEND_REGISTER_HZ = 140.0  # no voice named: between the voices, where the blend model's neutral clips sit most
REVISION = 3  # raised when a guide's output for the same setting changes (2: a model without speakers is guided
#              about the named voices' registers, not all at 140 Hz; 3: combs above about 300 Hz capped at
#              COMB_PEAK_LOG): measurements of another revision differ
GUIDED_BELOW_HZ = 3000.0  # the comb is drawn this high: up to 1 kHz alone, a 200 Hz register's clips fell an
#                          octave in 40 % of frames (the vocoder heard too few harmonics); to 3 kHz, in 13 %
RIPPLE_DB = 3.5  # the harmonic ripple below 1 kHz the guide gives a voiced frame (prosody.mel_ripple_db): the
#                  teacher clips' mels carry 3.4-3.7
DECLINATION_ST = -3.0  # neutral F0 from the first voiced frame to the last (the espeak-ng voices: -2 to -4.5)
HAT_ST = 2.0  # the rise-fall over each voiced run
MIN_HAT_FRAMES = 5  # runs shorter than this (60 ms) get no hat: too short for a syllable
LOW_BAND_HZ, HIGH_BAND_HZ = 600.0, 2000.0
VOICED_BELOW_LOUDEST = 3.0  # nats: a voiced frame's low band is within ~26 dB of the clip's loudest low band
COMB_STEP_ST = 0.1  # the combs are tabled every 0.1 semitone (0.6 % of F0; a mel bin is 37 Hz)
F0_TABLE_HZ = (40.0, 800.0)
# The most a comb may raise or lower one bin, in the mel's natural log (17 dB): the largest of the combs up to 300 Hz.
# Above it a comb's harmonics are sparser than the low bins, the median ripple it is scaled by falls towards zero
# and the scale blew up (3.2 at 320 Hz, 19 at 400, 4000 at 500: mels the vocoder cannot speak, refiner training
# pairs that were garbage where the teacher's F0 tracker read a high F0).
COMB_PEAK_LOG = 2.0
TEMPO_LIMITS = (0.7, 1.4)  # a clip is never stretched or squeezed further (the presets' rates: 0.80 to 1.15)


def check_guide(guide: str) -> str:
    """guide, when it is one of GUIDES; a ValueError naming them otherwise."""
    if guide not in GUIDES:
        raise ValueError(f"unknown prosody guide {guide!r}: expected one of {', '.join(GUIDES)}")
    return guide


def guides_pitch(guide: str) -> bool:
    return "pitch" in check_guide(guide)


def guides_tempo(guide: str) -> bool:
    return "tempo" in check_guide(guide)


def voicing(log_mel: np.ndarray) -> np.ndarray:
    """Per frame, 0 (unvoiced or silent) to 1 (clearly voiced): a strong low band, against the clip's loudest
    low band and against the frame's own band above 2 kHz (fricatives are loud there, not below 600 Hz)."""
    from scipy.special import logsumexp

    x = checked_log_mel(log_mel)
    if x.shape[1] == 0:
        return np.zeros(0)
    centres = centre_frequencies()
    low = logsumexp(x[centres < LOW_BAND_HZ], axis=0)  # each band's energy, in the mel's log
    high = logsumexp(x[centres > HIGH_BAND_HZ], axis=0)
    # soft edges, a nat (8.7 dB) wide: from VOICED_BELOW_LOUDEST under the loudest, and from a low band 2 nats
    # under the high band to level with it
    loud = np.clip(low - (low.max() - VOICED_BELOW_LOUDEST), 0.0, 1.0)
    tonal = np.clip((low - high + 2.0) / 2.0, 0.0, 1.0)
    return loud * tonal


def neutral_contour(voiced: np.ndarray) -> np.ndarray:
    """Semitones about the register per frame: a declination from the first voiced frame to the last, and a
    rise-fall of HAT_ST over each run of voiced frames (voiced: voicing() > 0.5)."""
    voiced = np.asarray(voiced, dtype=bool)
    frames = np.arange(len(voiced))
    contour = np.zeros(len(voiced))
    where = np.flatnonzero(voiced)
    if not len(where):
        return contour
    first, last = where[0], where[-1]
    contour += DECLINATION_ST * (np.clip((frames - first) / max(last - first, 1), 0.0, 1.0) - 0.5)
    for start, stop in _runs(voiced):
        if stop - start >= MIN_HAT_FRAMES:
            contour[start:stop] += HAT_ST * np.sin(np.pi * (np.arange(stop - start) + 0.5) / (stop - start))
    return contour


def f0_track(log_mel: np.ndarray, emotion_id: str, register_hz: float, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray]:
    """(F0 in Hz per frame, voicing weight per frame) of a clip guided in emotion_id about register_hz."""
    from ..corpus.presets import preset_for
    from ..corpus.synth import reshape_f0

    if not register_hz > 0:
        raise ValueError(f"a register must be a positive frequency, got {register_hz}")
    weight = voicing(log_mel)
    voiced = weight > 0.5
    neutral = register_hz * 2.0 ** (neutral_contour(voiced) / 12.0)
    preset = preset_for(emotion_id)
    frame_ms = 1000.0 * MEL.hop_length / MEL.sample_rate
    f0 = reshape_f0(neutral, voiced, preset, {"range_factor": preset.range_factor, "pitch_st": preset.pitch_st},
                    0.0, rng, frame_ms)
    return f0, weight


def imprint(log_mel: np.ndarray, f0_hz: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The log mel with each frame's harmonic comb at f0_hz added below GUIDED_BELOW_HZ, scaled by weight
    (0..1) to a ripple of RIPPLE_DB. A new array; the input is left as it was."""
    x = checked_log_mel(log_mel)
    if not (len(f0_hz) == len(weight) == x.shape[1]):
        raise ValueError("give one F0 and one weight per mel frame")
    table, table_f0 = _comb_table()
    index = np.clip(np.round(12.0 / COMB_STEP_ST * np.log2(np.maximum(f0_hz, 1e-3) / table_f0[0])).astype(int),
                    0, len(table_f0) - 1)
    out = x.copy()
    bins = table.shape[1]
    out[:bins] += table[index].T * np.clip(weight, 0.0, 1.0)[None, :]
    return out.astype(np.float32)


def guide_pitch(log_mel: np.ndarray, emotion_id: str, register_hz: float, seed: int = 0) -> np.ndarray:
    """The pitch guide in one call: the log mel (n_mels, frames), imprinted with emotion_id's intonation about
    register_hz. seed fixes the preset's jitter and tremolo phase."""
    f0, weight = f0_track(log_mel, emotion_id, register_hz, np.random.default_rng(seed))
    return imprint(log_mel, f0, weight)


def tempo_factor(frames: int, neutral_frames: int, emotion_id: str) -> float:
    """How much longer (>1) or shorter a clip of `frames` frames must last for its emotion's rate against the
    model's neutral rendering of the same sentence (neutral_frames), within TEMPO_LIMITS."""
    from ..corpus.presets import preset_for

    if frames < 1 or neutral_frames < 1:
        raise ValueError("a clip and its neutral rendering need at least one frame each")
    target = neutral_frames / preset_for(emotion_id).rate
    return float(np.clip(target / frames, *TEMPO_LIMITS))


def stretch(log_mel: np.ndarray, factor: float) -> np.ndarray:
    """The log mel lasting `factor` times as long (frames linearly interpolated; at least 2 frames)."""
    x = checked_log_mel(log_mel)
    if not factor > 0:
        raise ValueError(f"a stretch factor must be positive, got {factor}")
    frames = x.shape[1]
    if frames < 2 or factor == 1.0:
        return x.astype(np.float32)
    source = np.linspace(0.0, frames - 1.0, max(2, int(round(frames * factor))))
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, frames - 1)
    share = source - low
    return (x[:, low] * (1.0 - share) + x[:, high] * share).astype(np.float32)


def register_for(voice: str) -> float:
    """The register a clip spoken as voice is guided about ("" or an unknown voice: the blend's)."""
    return REGISTERS_HZ.get(voice, BLEND_REGISTER_HZ)


def register_voice(voice: str) -> str:
    """voice, when its register is measured (REGISTERS_HZ); else "", the blend's: what a caller names as the voice a
    clip spoken as voice is pitched about."""
    return voice if voice in REGISTERS_HZ else ""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


@lru_cache(maxsize=1)
def _comb_table() -> tuple[np.ndarray, np.ndarray]:
    """Every COMB_STEP_ST from F0_TABLE_HZ's floor to its ceiling: the log-mel ripple (bins below
    GUIDED_BELOW_HZ, envelope removed) of a flat harmonic comb at that F0, scaled so that its median |ripple|
    below prosody.RIPPLE_BELOW_HZ is RIPPLE_DB (higher up, where the bins are wider, a comb shows less ripple, as
    a voice's does). Harmonics are Gaussian lines as wide as the Hann window's main lobe at n_fft."""
    from .mel import _filterbank
    from .prosody import RIPPLE_BELOW_HZ, harmonic_detail

    fb = _filterbank(MEL).numpy().astype(np.float64)
    freqs = np.arange(fb.shape[1]) * MEL.sample_rate / MEL.n_fft
    bins = int(np.searchsorted(centre_frequencies(), GUIDED_BELOW_HZ))
    measured = int(np.searchsorted(centre_frequencies(), RIPPLE_BELOW_HZ))
    width = 0.75 * MEL.sample_rate / MEL.win_length  # the Hann main lobe's standard deviation, about
    steps = int(12.0 / COMB_STEP_ST * np.log2(F0_TABLE_HZ[1] / F0_TABLE_HZ[0])) + 1
    table_f0 = F0_TABLE_HZ[0] * 2.0 ** (np.arange(steps) * COMB_STEP_ST / 12.0)
    target = RIPPLE_DB * np.log(10.0) / 20.0  # in the mel's natural-log units
    rows = []
    for f0 in table_f0:
        harmonics = np.arange(1, int(MEL.f_max / f0) + 1) * f0
        spectrum = np.exp(-0.5 * ((freqs[None, :] - harmonics[:, None]) / width) ** 2).sum(axis=0)
        comb = np.log(fb[:bins] @ spectrum + 1e-3)
        ripple = harmonic_detail(comb)
        row = ripple * target / max(np.median(np.abs(ripple[:measured])), 1e-6)
        rows.append(row * min(1.0, COMB_PEAK_LOG / max(np.abs(row).max(), 1e-9)))
    return np.array(rows), table_f0

"""Acoustic measurements of a speech clip: how long, how high, how varied and how loud it is spoken.

Used to check that the emotion presets really differ (tests, corpus report). numpy, scipy and pyworld
only. F0 tracking (Harvest) dominates the cost: about 0.2 s per second of audio on one core; the
level, duration and rate measures alone take a few milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyworld
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import butter, find_peaks, sosfiltfilt

FRAME_S = 0.025  # analysis window of the level measurements
HOP_S = 0.010
F0_FRAME_MS = 5.0
SPEECH_BELOW_PEAK_DB = 35.0  # frames this far below the loudest frame are pauses or silence
SILENCE_FLOOR_DBFS = -60.0
F0_FLOOR_HZ = 55.0  # wide enough for any adult voice and every preset, from creak to surprise
F0_CEIL_HZ = 600.0
OCTAVE_JUMP_ST = 7.0
OCTAVE_JUMP_SPAN_FRAMES = 41  # 0.2 s at 5 ms


@dataclass(frozen=True)
class Acoustics:
    duration_s: float  # from the first to the last speech frame
    median_f0_hz: float  # over voiced frames; nan when nothing is voiced
    f0_range_st: float  # 10th to 90th percentile of F0, in semitones
    energy_db: float  # RMS of the speech frames, dBFS
    syllable_rate_hz: float  # energy peaks (syllable nuclei) per second of speech: a speaking-rate proxy

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_float64(wave: np.ndarray) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform (1-D array), got shape {x.shape}")
    return x


def frame_levels_db(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level of each 25 ms frame (10 ms hop), dBFS."""
    x = _as_float64(wave)
    win, hop = int(FRAME_S * sample_rate), int(HOP_S * sample_rate)
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def speech_frames(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Boolean mask of the 10 ms frames that carry speech (not silence or a pause)."""
    levels = frame_levels_db(wave, sample_rate)
    threshold = max(levels.max() - SPEECH_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)
    return levels > threshold


def speech_duration_s(wave: np.ndarray, sample_rate: int) -> float:
    active = np.flatnonzero(speech_frames(wave, sample_rate))
    if len(active) == 0:
        return 0.0
    return float((active[-1] - active[0]) * HOP_S + FRAME_S)


def energy_db(wave: np.ndarray, sample_rate: int) -> float:
    """RMS level of the speech frames, dBFS (pauses and silence left out)."""
    levels = frame_levels_db(wave, sample_rate)
    active = speech_frames(wave, sample_rate)
    if not active.any():
        return float(SILENCE_FLOOR_DBFS)
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[active] / 10.0))))


def drop_octave_jumps(f0: np.ndarray, max_jump_st: float = OCTAVE_JUMP_ST) -> np.ndarray:
    """Unvoice frames that jump more than max_jump_st from the running median of their ~0.2 s
    neighbourhood: octave errors of the tracker, not intonation (which moves more smoothly)."""
    voiced = f0 > 0
    if voiced.sum() < 3:
        return f0
    frames = np.arange(len(f0))
    log_f0 = np.interp(frames, frames[voiced], np.log2(f0[voiced]))
    local = median_filter(log_f0, size=OCTAVE_JUMP_SPAN_FRAMES, mode="nearest")
    jumps = voiced & (np.abs(log_f0 - local) * 12.0 > max_jump_st)
    return np.where(jumps, 0.0, f0)


def f0_track_hz(wave: np.ndarray, sample_rate: int,
                f0_floor: float = F0_FLOOR_HZ, f0_ceil: float = F0_CEIL_HZ) -> np.ndarray:
    """F0 every 5 ms (0 where unvoiced): WORLD's Harvest, the most octave-robust of its estimators
    (DIO and a YIN were 3-10x faster but twice as far off on the Piper voice), octave jumps removed."""
    x = _as_float64(wave)
    n_frames = int(len(x) / sample_rate * 1000.0 / F0_FRAME_MS) + 1
    f0 = np.zeros(n_frames)
    active = np.flatnonzero(speech_frames(x, sample_rate))
    if len(active) == 0:
        return f0
    # track the speech span only (Harvest costs per second of audio), cut on a 20 ms grid so its
    # 5 ms frames stay aligned with the whole clip's
    grid = int(round(0.02 * sample_rate))
    start = int(active[0] * HOP_S * sample_rate) // grid * grid
    end = min(int((active[-1] * HOP_S + FRAME_S) * sample_rate) + grid, len(x))
    span_f0, _ = pyworld.harvest(x[start:end], sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil,
                                 frame_period=F0_FRAME_MS)
    offset = int(round(start / sample_rate * 1000.0 / F0_FRAME_MS))
    span_f0 = span_f0[: n_frames - offset]
    f0[offset: offset + len(span_f0)] = span_f0
    return drop_octave_jumps(f0)


def median_f0_hz(f0: np.ndarray) -> float:
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else float("nan")


def f0_range_st(f0: np.ndarray, low_pct: float = 10.0, high_pct: float = 90.0) -> float:
    voiced = f0[f0 > 0]
    if len(voiced) < 2:
        return 0.0
    low, high = np.percentile(voiced, [low_pct, high_pct])
    return float(12.0 * np.log2(high / low))


def syllable_rate_hz(wave: np.ndarray, sample_rate: int) -> float:
    """Peaks of the 300-3000 Hz energy envelope per second of speech (vowel nuclei stand out there)."""
    x = _as_float64(wave)
    duration = speech_duration_s(x, sample_rate)
    if duration <= 0.0:
        return 0.0
    band = sosfiltfilt(butter(2, [300, 3000], btype="bandpass", fs=sample_rate, output="sos"), x)
    hop = int(HOP_S * sample_rate)
    power = uniform_filter1d(band**2, size=int(FRAME_S * sample_rate))[::hop]
    envelope = np.sqrt(np.maximum(power, 0.0))  # the running mean can dip a hair below zero
    envelope_db = 20.0 * np.log10(envelope + 1e-9)
    # a nucleus: a peak that rises 4 dB over its surroundings, at most one per 80 ms
    peaks, _ = find_peaks(envelope_db, prominence=4.0, distance=8,
                          height=envelope_db.max() - SPEECH_BELOW_PEAK_DB)
    return float(len(peaks) / duration)


def measure(wave: np.ndarray, sample_rate: int) -> Acoustics:
    f0 = f0_track_hz(wave, sample_rate)
    return Acoustics(
        duration_s=speech_duration_s(wave, sample_rate),
        median_f0_hz=median_f0_hz(f0),
        f0_range_st=f0_range_st(f0),
        energy_db=energy_db(wave, sample_rate),
        syllable_rate_hz=syllable_rate_hz(wave, sample_rate),
    )

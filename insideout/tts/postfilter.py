"""The mel postfilter: the acoustic model's over-smoothed spectral envelope sharpened before the vocoder hears it.

Why: a Tacotron2 trained on a mean-squared mel loss predicts each frame's average over what it could be, so its
formants are flatter and its frames vary less than speech does (the strong judge's features showed it most on the
held-out happy, surprised and fearful clips, which it hears as angry: their MFCCs' spreads 1.1-2.5 standard
deviations under the teacher's clips', the fearful clips' spectral flux 2.4 under). Parametric synthesis met the
same smoothing with a cepstral postfilter (HTS's formant emphasis): every cepstral coefficient above the first two
scaled up by 1 + beta, so the peaks of the envelope rise and its valleys fall while each frame's level (c0) and
spectral tilt (c1) stay as the model made them. Here the cepstrum is the DCT of each log-mel frame across its bins.

Measured on the shipped model's 96 held-out clips at the defaults (the model card's "The mel postfilter"): beta
0.15 brought the word error rate from 65.9 / 62.4 % to 58.1 / 59.3 % (the teacher's clips 58.9 / 54.7 %) with the
strong judge naming as many emotions (53 of 96) and DNSMOS up 0.02; 0.1, 0.2 and 0.3 helped recognition less, 0.4
less still and cost emotion; leaving c2 and c3 alone too (emphasis from c4) helped less. Scaling the frames'
variance in time instead (global-variance compensation) cost 5-7 emotions of 48, and matching each emotion's
long-term spectrum to the teacher's (even to the held-out clips' own) cost 2-3: the model's flat envelope, not its
average spectrum, is what the postfilter corrects.

Pure array arithmetic (scipy's DCT); nothing here knows of the web or of storage.
"""

from __future__ import annotations

import numpy as np

from .mel import checked_log_mel

BETA = 0.15  # the emphasis generation and evaluation use (chosen by the numbers above); 0 leaves a mel as it is
KEPT = 2  # cepstral coefficients left alone: c0, the frame's level, and c1, its tilt
LIMITS = (0.0, 1.0)  # a beta outside them is refused: at 1 the envelope's detail doubles, far past any gain


def check_beta(beta: float) -> float:
    """beta as a float, when within LIMITS; a ValueError saying so otherwise."""
    beta = float(beta)
    if not LIMITS[0] <= beta <= LIMITS[1]:
        raise ValueError(f"a postfilter's beta must be from {LIMITS[0]:g} to {LIMITS[1]:g}, got {beta:g}")
    return beta


def resolved(beta: float | None) -> float:
    """The beta a synthesizer asked for `beta` sharpens with: BETA for None, else beta checked (check_beta)."""
    return BETA if beta is None else check_beta(beta)


def sharpen(log_mel: np.ndarray, beta: float = BETA) -> np.ndarray:
    """The log mel (n_mels, frames) with each frame's cepstral coefficients from KEPT on scaled by 1 + beta. A new
    float32 array; beta 0 returns a copy of the input."""
    from scipy.fft import dct, idct

    x = checked_log_mel(log_mel)
    beta = check_beta(beta)
    if beta == 0.0 or x.shape[1] == 0:
        return x.astype(np.float32, copy=True)
    cepstrum = dct(x, type=2, norm="ortho", axis=0)
    cepstrum[KEPT:] *= 1.0 + beta
    return idct(cepstrum, type=2, norm="ortho", axis=0).astype(np.float32)

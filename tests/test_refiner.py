"""The mel refiner (insideout/tts/refiner.py): an untrained one changes nothing, its file is fp16 and loads back
to the same numbers, bad files are refused with the reason, training pairs line up with their targets, training
learns and resumes to the same weights, the command trains from a corpus, a synthesizer refines only pitch-guided
mels and says with which version, and the shipped refiner is small, documented and made from the shipped model."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from insideout.corpus.synth import render_clip
from insideout.emotions import EMOTION_IDS
from insideout.settings import settings_from_env
from insideout.tts import refiner as rf
from insideout.tts import tacotron2 as t2
from insideout.tts.hifigan import shared_vocoder
from insideout.tts.mel import MEL, mel_spectrogram
from insideout.tts.synthesize import SynthesisError, Synthesizer, encode_batch, shared_synthesizer
from insideout.tts.train import items_from_folder
from tests import tts_fixtures
from tests.conftest import tone
from tests.test_eval_tts import write_corpus

TEXT = "She put the blue folder on the kitchen table."


@pytest.fixture(scope="module")
def mel() -> np.ndarray:
    wave, _ = render_clip(TEXT, "sad", "espeak-f", 4)
    return mel_spectrogram(wave)[0].numpy()


def detailed(seed: int = 0) -> rf.RefinerNet:
    """A refiner whose output layer is no longer zero: it changes what it hears, as a trained one does."""
    torch.manual_seed(seed)
    net = rf.RefinerNet()
    with torch.no_grad():
        net.out.weight.normal_(0.0, 0.01)
    return net.eval()


def test_an_untrained_refiner_gives_back_its_input_for_every_emotion(mel):
    refiner = rf.Refiner(rf.RefinerNet().eval(), "untrained", "memory")
    for emotion_id in EMOTION_IDS:
        out = refiner.refine(mel, emotion_id)
        assert out.dtype == np.float32 and out.shape == mel.shape
        np.testing.assert_allclose(out, mel, atol=1e-6)
    assert refiner.refine(np.zeros((MEL.n_mels, 0)), "happy").shape == (MEL.n_mels, 0)


def test_a_refiner_is_written_in_fp16_and_loads_back_to_the_same_numbers_and_version(tmp_path, mel):
    net = detailed()
    version = rf.export(net, tmp_path / "r.pt", {"steps": 3})
    data = torch.load(tmp_path / "r.pt", weights_only=True)
    assert {v.dtype for v in data["state"].values()} == {torch.float16}
    assert data["emotions"] == list(EMOTION_IDS) and data["trained"] == {"steps": 3}
    loaded = rf.load(tmp_path / "r.pt")
    assert loaded.version == version == rf.file_version(tmp_path / "r.pt") and len(version) == 12
    with torch.inference_mode():
        expected = net.half().float()(torch.from_numpy(mel)[None], torch.tensor([EMOTION_IDS.index("angry")]))[0]
    np.testing.assert_allclose(loaded.refine(mel, "angry"), expected.numpy(), atol=1e-4)
    assert not np.allclose(loaded.refine(mel, "angry"), mel, atol=1e-3)  # it does change the mel
    # each emotion is refined its own way
    assert not np.allclose(loaded.refine(mel, "angry"), loaded.refine(mel, "sad"))


def test_a_missing_or_foreign_file_or_one_of_other_emotions_is_refused_with_the_reason(tmp_path, mel):
    with pytest.raises(rf.RefinerError, match="no mel refiner at .*insideout train-refiner.*INSIDEOUT_MEL_REFINER=off"):
        rf.load(tmp_path / "nowhere.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(rf.RefinerError, match="not a mel refiner"):
        rf.load(tmp_path / "text.pt")
    torch.save({"state": {}}, tmp_path / "other.pt")
    with pytest.raises(rf.RefinerError, match=r"not a mel refiner \(made by `insideout train-refiner`\)"):
        rf.load(tmp_path / "other.pt")
    rf.export(rf.RefinerNet(), tmp_path / "r.pt")
    data = torch.load(tmp_path / "r.pt", weights_only=True)
    torch.save({**data, "emotions": ["happy", "sad"]}, tmp_path / "two.pt")
    with pytest.raises(rf.RefinerError, match="learned the emotions"):
        rf.load(tmp_path / "two.pt")
    torch.save({**data, "format_version": rf.FORMAT_VERSION + 1}, tmp_path / "newer.pt")
    with pytest.raises(rf.RefinerError, match="made by a newer InsideOut"):
        rf.load(tmp_path / "newer.pt")
    with pytest.raises(ValueError, match=r"expected a log mel of shape \(80, frames\), got \(10, "):
        rf.load(tmp_path / "r.pt").refine(mel[:10], "happy")


def test_an_emphasis_sharpens_only_its_emotions_refined_mels_and_makes_another_version(tmp_path, mel):
    from insideout.tts.postfilter import sharpen

    version = rf.export(detailed(), tmp_path / "r.pt", {"steps": 3})
    plain = rf.load(tmp_path / "r.pt")
    assert plain.emphasis == {} and "emphasis" not in torch.load(tmp_path / "r.pt", weights_only=True)
    emphasized = rf.with_emphasis(tmp_path / "r.pt", tmp_path / "e.pt", {"surprised": 0.3, "happy": 0.0})
    assert emphasized.emphasis == {"surprised": 0.3}  # a zero is no emphasis
    assert emphasized.version not in (version, "") and emphasized.trained == {"steps": 3}
    np.testing.assert_allclose(emphasized.refine(mel, "surprised"), sharpen(plain.refine(mel, "surprised"), 0.3),
                               atol=1e-5)
    assert not np.allclose(emphasized.refine(mel, "surprised"), plain.refine(mel, "surprised"), atol=1e-3)
    for other in ("happy", "angry", "neutral"):
        np.testing.assert_array_equal(emphasized.refine(mel, other), plain.refine(mel, other))
    # the same weights with none again: the emphasis goes, the weights stay
    assert rf.with_emphasis(tmp_path / "e.pt", tmp_path / "none.pt", {}).emphasis == {}
    np.testing.assert_array_equal(rf.load(tmp_path / "none.pt").refine(mel, "surprised"),
                                  plain.refine(mel, "surprised"))


def test_a_file_with_an_emphasis_of_an_unknown_emotion_or_out_of_range_is_refused(tmp_path):
    rf.export(rf.RefinerNet(), tmp_path / "r.pt")
    data = torch.load(tmp_path / "r.pt", weights_only=True)
    for emphasis, reason in (({"joy": 0.2}, "unknown emotion 'joy'"), ({"sad": 1.5}, "from 0 to 1, got 1.5"),
                             ({"sad": float("nan")}, "from 0 to 1"), (["sad"], "a table of emotion to beta")):
        torch.save({**data, "emphasis": emphasis}, tmp_path / "bad.pt")
        with pytest.raises(rf.RefinerError, match=reason):
            rf.load(tmp_path / "bad.pt")
    with pytest.raises(rf.RefinerError, match="unknown emotion"):
        rf.export(rf.RefinerNet(), tmp_path / "x.pt", emphasis={"joy": 0.1})


def test_the_emphasis_command_writes_a_new_version_and_refuses_what_it_cannot_read(tmp_path, capsys):
    from insideout.cli import main

    rf.export(detailed(), tmp_path / "r.pt")
    out = tmp_path / "e.pt"
    assert main(["emphasize-refiner", str(tmp_path / "r.pt"), "--emphasis", "surprised=0.3", "--emphasis",
                 "happy=0.1", "--out", str(out)]) == 0
    loaded = rf.load(out)
    assert loaded.emphasis == {"happy": 0.1, "surprised": 0.3}
    assert f"version {loaded.version}" in capsys.readouterr().out
    assert main(["emphasize-refiner", str(out), "--none", "--out", str(out)]) == 0  # in place
    assert rf.load(out).emphasis == {} and "emphasis none" in capsys.readouterr().out
    for bad, reason in ((["--emphasis", "surprised"], "give EMOTION=BETA"),
                        (["--emphasis", "sad=x"], "give EMOTION=BETA"),
                        (["--emphasis", "sad=0.1", "--emphasis", "sad=0.2"], "names sad twice"),
                        (["--emphasis", "joy=0.1"], "unknown emotion 'joy'"),
                        (["--emphasis", "sad=3"], "from 0 to 1"),
                        ([], "or --none"), (["--none", "--emphasis", "sad=0.1"], "or --none")):
        assert main(["emphasize-refiner", str(tmp_path / "r.pt"), *bad, "--out", str(tmp_path / "z.pt")]) == 2
        assert reason in capsys.readouterr().err
    assert not (tmp_path / "z.pt").exists()
    assert main(["emphasize-refiner", str(tmp_path / "nowhere.pt"), "--none", "--out", str(out)]) == 2
    assert "no mel refiner at" in capsys.readouterr().err


def test_the_setting_names_the_shipped_refiner_by_default_none_for_off_and_a_path_otherwise(tmp_path):
    assert settings_from_env({}).mel_refiner == ""
    assert rf.chosen_path("") == rf.SHIPPED and rf.chosen_path(" off ") is None
    assert rf.chosen_path(str(tmp_path / "r.pt")) == tmp_path / "r.pt"
    assert rf.shared_refiner("off") is None
    rf.export(rf.RefinerNet(), tmp_path / "r.pt")
    assert rf.shared_refiner(str(tmp_path / "r.pt")) is rf.shared_refiner(str(tmp_path / "r.pt"))  # loaded once


def test_training_pairs_line_up_the_models_forced_mel_with_the_comb_drawn_in_against_the_clips_own(tmp_path):
    write_corpus(tmp_path / "corpus", per_emotion=1)
    items = items_from_folder(tmp_path / "corpus")[:3]
    acoustic = t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt", max_step=400))
    seen = []
    pairs = rf.training_pairs(acoustic, items, tmp_path / "mels", 0.15, on_progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and len(pairs) == 3
    for pair, item in zip(pairs, items, strict=True):
        target = mel_spectrogram(item.load_wave())[0]
        assert pair.source.dtype == pair.target.dtype == torch.float16
        assert pair.source.shape == pair.target.shape == target.shape
        np.testing.assert_allclose(pair.target.float().numpy(), target.numpy(), atol=2e-2)
        assert pair.emotion == EMOTION_IDS.index(item.emotion)
    # the comb is drawn at each clip's own F0: the first tone's is 120 Hz (tests.conftest.tone)
    f0 = rf.f0_at_frames(items[0].load_wave(), pairs[0].source.shape[1])
    assert len(f0) == pairs[0].source.shape[1] and np.median(f0) == pytest.approx(120.0, rel=0.06)


def test_dtw_pairs_each_frame_with_its_twin_in_a_slowed_or_quickened_copy(mel):
    speech = mel.max(0) > mel.min() + 1.0  # silent frames are all alike: any of them is a silent frame's twin
    slowed = np.repeat(mel, 2, axis=1)  # each frame twice: frame i's twins are 2i and 2i + 1
    frame_of = rf.aligned_frames(mel, slowed)
    assert frame_of.shape == (mel.shape[1],) and np.all(np.diff(frame_of) >= 0)
    assert np.all(np.abs(frame_of - 2 * np.arange(mel.shape[1]))[speech] <= 1)
    np.testing.assert_allclose(slowed[:, frame_of], mel)
    quickened = mel[:, ::2]  # the other way: two frames of mel share one target frame
    frame_of = rf.aligned_frames(mel, quickened)
    assert np.all(np.diff(frame_of) >= 0) and np.all(np.abs(frame_of - np.arange(mel.shape[1]) / 2)[speech] <= 1)
    with pytest.raises(rf.RefinerError, match="at least one frame"):
        rf.aligned_frames(mel, mel[:, :0])


def test_free_running_pairs_warp_the_clips_mel_onto_the_models_own_frames(tmp_path):
    from insideout.generation import SHIPPED_CHECKPOINT

    write_corpus(tmp_path / "corpus", per_emotion=1)
    items = items_from_folder(tmp_path / "corpus")[:3]
    acoustic = t2.load(SHIPPED_CHECKPOINT)  # a model that ends its sentences by itself, as generation needs
    seen = []
    torch.manual_seed(0)
    pairs = rf.free_running_pairs(acoustic, items, 0.15, 1.25, on_progress=lambda d, n: seen.append((d, n)),
                                  batch_size=2)
    assert seen == [(2, 3), (3, 3)] and len(pairs) == 3
    for pair, item in zip(pairs, items, strict=True):
        clip = mel_spectrogram(item.load_wave())[0].numpy()
        assert pair.source.dtype == pair.target.dtype == torch.float16
        assert pair.source.shape == pair.target.shape and pair.emotion == EMOTION_IDS.index(item.emotion)
        # every target frame is one of the clip's own frames (warped, not made up)
        target = pair.target.float().numpy()
        gaps = [np.abs(clip - target[:, [k]]).max(0).min() for k in range(target.shape[1])]
        assert max(gaps) < 1e-2
    # the timeline is the model's own: the same draws of the prenet's dropout give mels of these lengths
    torch.manual_seed(0)
    _, batch, lengths, emotions = encode_batch(acoustic.frontend, [i.text for i in items[:2]],
                                               [i.emotion for i in items[:2]])
    with torch.inference_mode():
        _, own, _ = acoustic.model.infer(batch, lengths, emotions, torch.full((2,), acoustic.model.unknown_speaker),
                                         1.25)
    assert sorted(p.source.shape[1] for p in pairs[:2]) == sorted(int(n) for n in own)
    # a decoder that never ends its sentences, or ends them at once, gives no pairs
    for stops in (False, True):
        tiny = t2.load(tts_fixtures.write_insideout(tmp_path / f"tiny-{stops}.pt", stops=stops, max_step=40))
        assert rf.free_running_pairs(tiny, items, 0.15, 1.25) == []


def tone_pairs(count: int = 4) -> list[rf.Pair]:
    pairs = []
    for i in range(count):
        target = mel_spectrogram(tone(180 + 40 * i, 0.9, MEL.sample_rate))[0]
        source = torch.full_like(target, float(target.mean()))  # a flat mel of the same level
        pairs.append(rf.Pair(source.half(), target.half(), i % len(EMOTION_IDS)))
    return pairs


def test_crops_are_of_the_crop_length_and_short_pairs_are_padded_with_silence():
    pairs = tone_pairs(2)
    short = rf.Pair(pairs[0].source[:, :10], pairs[0].target[:, :10], 3)
    source, target, emotions = rf.crop_batch([short], 2, random.Random(0))
    assert source.shape == target.shape == (2, MEL.n_mels, rf.CROP_FRAMES) and emotions.tolist() == [3, 3]
    assert torch.all(target[:, :, 10:] == rf.PAD_LOG)


def test_training_learns_and_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    pairs = tone_pairs()
    config = rf.RefinerConfig(steps=12, batch_size=4, checkpoint_every=4)
    straight = rf.train(pairs, tmp_path / "straight", config)
    history = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert [h["step"] for h in history] == list(range(1, 13))
    assert history[-1]["l1"] < history[0]["input_l1"]  # it learns to move the flat mel towards the tone's
    asked = []
    rf.train(pairs, tmp_path / "split", config, should_stop=lambda: asked.append(1) or len(asked) > 5)
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=False)["step"] == 5
    resumed = rf.train(pairs, tmp_path / "split", config)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(rf.RefinerError, match="use a new run directory"):
        rf.train(pairs, tmp_path / "split", rf.RefinerConfig(steps=12, batch_size=4, l1_weight=1.0))
    with pytest.raises(rf.RefinerError, match="no training pairs"):
        rf.train([], tmp_path / "none", config)


def two_emotions() -> list[rf.Pair]:
    """Two emotions told apart by pitch alone, each pair twice (the probe's held-out share repeats what it learned)."""
    low, high = tone_pairs(2)
    return [rf.Pair(low.source, low.target, 0), rf.Pair(high.source, high.target, 1)] * 2


def test_an_emotion_probe_learns_the_teachers_emotions_from_crops_and_is_frozen():
    pairs = two_emotions()
    probe, accuracy = rf.train_probe(pairs, steps=30, seed=0, batch_size=8, held_out=0.5)
    assert accuracy == 1.0 and not any(p.requires_grad for p in probe.parameters())
    _, target, emotions = rf.crop_batch(pairs, 8, random.Random(3))
    assert probe(target).argmax(1).tolist() == emotions.tolist()


def test_with_an_emotion_weight_the_refiner_is_pulled_towards_the_emotion_the_probe_hears(tmp_path):
    pairs = two_emotions()
    config = rf.RefinerConfig(steps=16, batch_size=4, emotion_weight=1.0, probe_steps=40, learning_rate=1e-3)
    rf.train(pairs, tmp_path / "run", config)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {"emotion", "teacher_emotion", "named"} <= set(history[0])
    # the flat inputs carry no pitch: the pull teaches the refiner to draw each emotion's
    assert sum(h["emotion"] for h in history[-4:]) < sum(h["emotion"] for h in history[:4]) / 2
    assert json.loads((tmp_path / "run" / "probe.json").read_text())["held_out_accuracy"] == 1.0
    # a resumed run trains the same probe again and goes on to the same weights as one run straight through
    short = rf.RefinerConfig(steps=4, batch_size=2, emotion_weight=1.0, probe_steps=20, checkpoint_every=2)
    straight = rf.train(pairs, tmp_path / "straight", short)
    asked = []
    rf.train(pairs, tmp_path / "split", short, should_stop=lambda: asked.append(1) or len(asked) > 2)
    resumed = rf.train(pairs, tmp_path / "split", short)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    # without the weight there is no probe and the history names no emotion: the shipped recipe, unchanged
    rf.train(pairs, tmp_path / "plain", rf.RefinerConfig(steps=1, batch_size=2))
    assert "emotion" not in json.loads((tmp_path / "plain" / "history.json").read_text())[0]
    assert not (tmp_path / "plain" / "probe.json").exists()


def test_a_run_saved_before_the_emotion_weight_existed_resumes(tmp_path):
    pairs = tone_pairs(2)
    config = rf.RefinerConfig(steps=2, batch_size=2)
    rf.train(pairs, tmp_path / "run", config)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    del saved["config"]["emotion_weight"]  # as an earlier InsideOut wrote it
    torch.save(saved, tmp_path / "run" / "last.pt")
    rf.train(pairs, tmp_path / "run", rf.RefinerConfig(steps=3, batch_size=2))
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3


def test_the_learning_rates_decay_along_a_cosine_to_a_tenth_the_critics_half_the_refiners():
    config = rf.RefinerConfig(steps=100)
    assert config.rates(0) == pytest.approx((2e-4, 1e-4))
    assert config.rates(50) == pytest.approx((1.1e-4, 0.55e-4))
    assert config.rates(100) == config.rates(300) == pytest.approx((2e-5, 1e-5))


def test_the_command_trains_from_a_corpus_resumes_and_writes_a_refiner_that_loads(tmp_path, capsys):
    from insideout.cli import main

    write_corpus(tmp_path / "corpus", per_emotion=1)
    checkpoint = tts_fixtures.write_insideout(tmp_path / "tiny.pt", max_step=400)
    out = tmp_path / "refiner.pt"
    args = ["train-refiner", "--corpus", str(tmp_path / "corpus"), "--run-dir", str(tmp_path / "run"),
            "--checkpoint", str(checkpoint), "--clips", "3", "--batch-size", "2", "--threads", "1", "--out", str(out),
            "--pairs", "forced"]
    assert main([*args, "--steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert "3 pairs of 3 clips" in printed and "step 3/3" in printed and f"wrote {out}" in printed
    refiner = rf.load(out)
    assert refiner.trained["pairs"] == 3 and refiner.trained["checkpoint"] == t2.load(checkpoint).version
    assert refiner.trained["config"]["steps"] == 3 and (tmp_path / "run" / "loss.png").is_file()
    assert main([*args, "--steps", "4"]) == 0  # the same run goes on; the pairs are not made again
    printed = capsys.readouterr().out
    assert "3 pairs from" in printed and "step 4/4" in printed and "step 1/" not in printed
    assert main(["train-refiner", "--corpus", str(tmp_path / "nowhere"), "--run-dir", str(tmp_path / "r2"),
                 "--checkpoint", str(checkpoint)]) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err


def test_the_command_fine_tunes_a_refiner_on_both_kinds_of_pairs_and_records_what_it_started_from(tmp_path, capsys):
    from insideout.cli import main

    write_corpus(tmp_path / "corpus", per_emotion=1)
    start = rf.export(detailed(), tmp_path / "start.pt")
    out = tmp_path / "refiner.pt"
    # the shipped acoustic model (the default --checkpoint)
    args = ["train-refiner", "--corpus", str(tmp_path / "corpus"), "--run-dir", str(tmp_path / "run"), "--clips", "3",
            "--batch-size", "2", "--threads", "1", "--out", str(out), "--steps", "2", "--init-from",
            str(tmp_path / "start.pt"), "--strength", "1.5", "--pairs", "both"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("3 pairs of 3 clips") == 2 and (tmp_path / "run" / "free-pairs.pt").is_file()
    trained = rf.load(out).trained
    assert trained["pairs"] == 6 and trained["pairs_kind"] == "both" and trained["strength"] == 1.5
    assert trained["init_from"] == start
    # the first step starts from the given weights, not from an untrained refiner's
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["history"][0]
    assert first["l1"] != pytest.approx(first["input_l1"])
    assert main([*args, "--init-from", str(tmp_path / "nowhere.pt")]) == 2  # the last one given counts
    assert "--init-from: no mel refiner at" in capsys.readouterr().err
    assert main([*args, "--strength", "9"]) == 2 and "--strength must be from 0 to 3" in capsys.readouterr().err
    assert main([*args, "--emotion-weight", "-1"]) == 2
    assert "--emotion-weight must be 0 or more" in capsys.readouterr().err
    assert main([*args, "--probe-steps", "0"]) == 2 and "--probe-steps" in capsys.readouterr().err
    emotional = tmp_path / "run-emotion"
    assert main([*args, "--run-dir", str(emotional), "--emotion-weight", "2", "--probe-steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert "emotion named" in printed and "the emotion probe names" in printed and (emotional / "loss.png").is_file()
    trained = rf.load(out).trained
    assert trained["config"]["emotion_weight"] == 2 and trained["config"]["probe_steps"] == 3
    assert 0 <= trained["probe_accuracy"] <= 1


def test_a_synthesizer_refines_only_pitch_guided_mels_and_names_the_refiners_version(tmp_path):
    vocoder = shared_vocoder("universal")
    model = t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt", stops=False, max_step=40))
    rf.export(detailed(), tmp_path / "r.pt")
    refiner = rf.load(tmp_path / "r.pt")
    spoken = {}
    for name, chosen, guide in (("plain", None, "pitch"), ("refined", refiner, "pitch"), ("unguided", refiner, "off")):
        torch.manual_seed(0)  # the prenet's dropout stays on at inference: the same seed, the same mel
        spoken[name] = Synthesizer(model, vocoder, guide=guide, refiner=chosen).speak(TEXT, "happy")
    assert (spoken["plain"].refiner, spoken["refined"].refiner, spoken["unguided"].refiner) == ("", refiner.version, "")
    np.testing.assert_array_equal(spoken["plain"].mel, spoken["refined"].mel)  # the model's own mel is kept
    assert not np.allclose(spoken["plain"].wave, spoken["refined"].wave)
    # one shared synthesizer per refiner; a missing file is refused when it is asked for
    path = tmp_path / "tiny.pt"
    assert shared_synthesizer(path, guide="pitch", refiner="off").refiner is None
    assert shared_synthesizer(path, guide="pitch", refiner=str(tmp_path / "r.pt")).refiner.version == refiner.version
    # the setting's "" is the shipped file: one synthesizer, not two
    assert shared_synthesizer(path, guide="pitch", refiner="") is shared_synthesizer(path, guide="pitch",
                                                                                      refiner=str(rf.SHIPPED))
    with pytest.raises(SynthesisError, match="no mel refiner at"):
        shared_synthesizer(path, guide="pitch", refiner=str(tmp_path / "nowhere.pt"))


def test_the_shipped_refiner_is_small_documented_and_learned_from_the_shipped_model_on_the_whole_corpus():
    from insideout.generation import SHIPPED_CHECKPOINT

    assert rf.SHIPPED.stat().st_size < 2_000_000
    refiner = rf.load(rf.SHIPPED)
    assert refiner.trained["checkpoint"] == t2.load(SHIPPED_CHECKPOINT).version
    assert refiner.trained["pairs"] > 4000 and refiner.trained["final_l1"] < refiner.trained["final_input_l1"]
    card = (rf.SHIPPED.parent / "mel-refiner.md").read_text()
    assert refiner.version in card and "insideout train-refiner" in card

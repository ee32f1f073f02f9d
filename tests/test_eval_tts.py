"""Held-out evaluation (insideout/tts/evaluation.py, `insideout eval`) and its use by retraining, on tiny
checkpoints: it renders held-out teacher clips, speaks them, recognizes and classifies them."""

import json
from dataclasses import replace

import pytest

from insideout.botlab import classifier as emotion_classifier
from insideout.cli import main
from insideout.emotions import EMOTION_IDS
from insideout.library import ClipInfo
from insideout.tts import postfilter, refiner
from insideout.tts.evaluation import evaluate_model, held_out
from insideout.wav import SAMPLE_RATE
from tests import tts_fixtures
from tests.conftest import tone

METRICS = {"held_out_clips", "emotion_strength", "mel_l1", "gate_bce", "diagonality", "stopped_share",
           "median_length_ratio", "wer", "teacher_wer", "examples", "dnsmos", "teacher_dnsmos", "starter_dnsmos",
           "prosody", "takes", "register_hz", "wer_by_voice", "teacher_wer_by_voice", "mel_ripple_db",
           "teacher_mel_ripple_db", "prosody_guide", "mel_postfilter", "mel_refiner"}
EMOTION_METRICS = {"emotion_accuracy", "teacher_emotion_accuracy", "emotion_accuracy_by_emotion",
                   "classifier_cv_accuracy"}


@pytest.fixture(scope="module")
def small_classifier() -> emotion_classifier.EmotionClassifier:
    """Fitted on one held-out rendering per emotion: small, but a real classifier."""
    clips = held_out(per_emotion=1, seed=5)
    return emotion_classifier.fit([emotion_classifier.Example(c.wave, SAMPLE_RATE, c.emotion, c.text) for c in clips],
                                  cross_validate=False)


def test_held_out_clips_cover_every_emotion_and_repeat_for_a_seed():
    first, again = held_out(1), held_out(1)
    assert [c.emotion for c in first] == list(EMOTION_IDS)
    assert [(c.text, c.voice) for c in first] == [(c.text, c.voice) for c in again]


def test_evaluation_reports_every_metric(tmp_path, small_classifier):
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt", stops=True, max_step=1000)
    metrics = evaluate_model(checkpoint, small_classifier, per_emotion=1)
    assert set(metrics) == METRICS | EMOTION_METRICS
    assert metrics["held_out_clips"] == 8 and metrics["stopped_share"] == 1.0  # the fixture's gate stops at once
    assert metrics["wer"] >= 0.9  # an untrained model says nothing a recognizer can hear
    assert metrics["teacher_wer"] < metrics["wer"]
    assert 0.0 <= metrics["emotion_accuracy"] <= 1.0 and metrics["classifier_cv_accuracy"] is None
    assert [e["emotion"] for e in metrics["examples"]] == list(EMOTION_IDS)
    # prosody per emotion, generated beside teacher, and the share of the teacher's contrast reproduced
    assert list(metrics["prosody"]["by_emotion"]) == list(EMOTION_IDS)
    assert set(metrics["prosody"]["by_emotion"]["neutral"]["f0_st"]) == {"generated", "teacher"}
    assert set(metrics["prosody"]["reproduced"]) == {"f0_st", "f0_range_st", "final_st", "energy_db", "tempo_pct"}
    assert all(e["teacher_f0_hz"] > 50 for e in metrics["examples"])  # each clip's median F0, to read registers
    # per voice: the held-out set takes the voices in turn, so each of its voices has a WER of its own
    assert list(metrics["wer_by_voice"]) == list(dict.fromkeys(e["voice"] for e in metrics["examples"]))
    assert all(v >= 0.9 for v in metrics["wer_by_voice"].values())
    assert set(metrics["teacher_wer_by_voice"]) == set(metrics["wer_by_voice"])
    # the teacher's mels carry their voices' harmonics; an untrained model's mels carry none
    assert metrics["teacher_mel_ripple_db"] > 2.0 > metrics["mel_ripple_db"]


def test_evaluation_without_a_classifier_leaves_emotion_out_scores_quality_and_repeats_its_numbers(tmp_path):
    # Teacher forcing runs the prenet, whose dropout stays on at inference, over every teacher frame:
    # unseeded, two runs differ in their attention diagonality.
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt", stops=True, max_step=250)
    starter = [(c.wave, SAMPLE_RATE) for c in held_out(per_emotion=1, seed=5)[:2]]
    first = evaluate_model(checkpoint, None, per_emotion=1, starter=starter)
    assert set(first) == METRICS
    # DNSMOS of the generated, teacher and starter clips: an untrained model's noise sounds worse than speech
    assert all(1.0 <= first[key] <= 5.0 for key in ("dnsmos", "teacher_dnsmos", "starter_dnsmos"))
    assert first["teacher_dnsmos"] > first["dnsmos"]
    assert all(1.0 <= e["dnsmos"] <= 5.0 and 1.0 <= e["teacher_dnsmos"] <= 5.0 for e in first["examples"])
    assert evaluate_model(checkpoint, None, per_emotion=1) == {**first, "starter_dnsmos": None}  # no starter clips


def write_corpus(folder, per_emotion: int) -> None:
    """A teacher corpus as tts.teacher writes one: WAVs at the mel rate and their manifest.jsonl lines."""
    import hashlib

    import soundfile as sf

    from insideout.tts.mel import MEL

    (folder / "wav").mkdir(parents=True)
    lines = []
    for k, emotion in enumerate(EMOTION_IDS):
        for i in range(per_emotion):
            wave = tone(200 + 40 * k + 5 * i, 0.4, MEL.sample_rate)
            sf.write(folder / "wav" / f"{emotion}{i}.wav", wave, MEL.sample_rate)
            lines.append(json.dumps({"file": f"wav/{emotion}{i}.wav", "text": f"Sentence {i}.", "emotion": emotion,
                                     "sha256": hashlib.sha256(wave.tobytes()).hexdigest(), "voice": "v"}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def test_corpus_examples_take_as_many_of_each_emotion_grouped_by_sentence_the_same_for_a_seed(tmp_path):
    write_corpus(tmp_path / "corpus", per_emotion=3)
    examples = emotion_classifier.corpus_examples(tmp_path / "corpus", per_emotion=2, seed=4)
    assert [e.emotion for e in examples] == [e for e in EMOTION_IDS for _ in range(2)]
    assert {e.group for e in examples} <= {"Sentence 0.", "Sentence 1.", "Sentence 2."}
    again = emotion_classifier.corpus_examples(tmp_path / "corpus", per_emotion=2, seed=4)
    assert [(e.group, e.wave.size) for e in examples] == [(e.group, e.wave.size) for e in again]
    assert len(emotion_classifier.corpus_examples(tmp_path / "corpus", per_emotion=9)) == 24  # all there are


def test_the_eval_command_judges_with_a_teacher_corpus_prints_the_report_and_writes_it(tmp_path, monkeypatch,
                                                                                      capsys):
    # In this process (the held-out clips and the teacher's scores are already worked out by the tests above).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSIDEOUT_EMOTION_STRENGTH", "1.25")
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt", stops=True, max_step=250)
    write_corpus(tmp_path / "corpus", per_emotion=2)
    assert main(["eval", "--checkpoint", str(checkpoint), "--per-emotion", "1", "--judge-corpus",
                 str(tmp_path / "corpus"), "--judge-per-emotion", "2", "--classifier-cache",
                 str(tmp_path / "judge.pkl"), "--out", str(tmp_path / "r.json"),
                 "--plot", str(tmp_path / "p.png"), "--takes", "2", "--guide", "pitch+tempo"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert set(report) >= METRICS | EMOTION_METRICS and report["held_out_clips"] == 8
    assert report["emotion_strength"] == 1.25  # the setting's, as generation speaks
    assert report["takes"] == 2 and (report["register_hz"] is None or report["register_hz"] > 0)
    assert report["prosody_guide"] == "pitch+tempo"
    assert report["mel_postfilter"] == postfilter.BETA  # as generation speaks
    assert report["mel_refiner"] == refiner.load(refiner.SHIPPED).version  # the shipped one, as generation speaks
    assert "16 clips of the teacher corpus" in err
    assert report["judge"]["seed"] == 1  # the judge's clips are drawn alike for every draw of held-out sentences
    assert "syllable rate vs neutral" in err and "\nreproduced" in err  # the prosody table
    assert "WER per voice, generated / teacher: " in err and "pitch detail in the mels" in err
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # and its plot
    # trained on the 16 corpus clips and their 16 vocoded copies
    assert emotion_classifier.load(tmp_path / "judge.pkl").trained_on == 32


def test_every_retrained_version_stores_the_held_out_metrics(services, small_classifier):
    from tests.test_train import TINY_CONFIG

    # A 2-step model never stops: a short decoder limit keeps the held-out synthesis (and its vocoding) short.
    services.retraining.base_config = replace(TINY_CONFIG, steps=2, model_overrides={
        **TINY_CONFIG.model_overrides, "decoder_max_step": 100})
    services.retraining.replay_play_pool = False
    services.retraining.eval_per_emotion = 1
    services.retraining.classifier = small_classifier
    services.library.add(tone(5, 0.5), SAMPLE_RATE, "learning",
                         ClipInfo(source="test", label="sad", text="The lamp is in the garage."))
    plan = services.retraining.start()
    assert services.jobs.wait(plan.job_id, timeout=300)["state"] == "done"
    model = services.db.get_model(plan.model_id)
    assert model["state"] == "evaluated"
    assert set(model["metrics"]) >= (METRICS | EMOTION_METRICS) and model["metrics"]["steps"] == 2


def test_the_eval_command_refuses_a_strength_takes_postfilter_or_refiner_it_cannot_use(tmp_path, capsys):
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt")
    assert main(["eval", "--checkpoint", str(checkpoint), "--strength", "4", "--no-emotion"]) == 2
    assert "--strength must be from 0 to 3" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(checkpoint), "--takes", "0", "--no-emotion"]) == 2
    assert "--takes must be from 1 to 8" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(checkpoint), "--postfilter", "1.5", "--no-emotion"]) == 2
    assert "--postfilter: a postfilter's beta must be from 0 to 1, got 1.5" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(checkpoint), "--refiner", str(tmp_path / "no.pt"), "--no-emotion"]) == 2
    assert "--refiner: no mel refiner at" in capsys.readouterr().err


def test_the_retraining_classifier_learns_from_the_starter_clips(services, tmp_path):
    for i, emotion in enumerate(EMOTION_IDS * 2):
        services.library.add(tone(100 + i, 0.5 + 0.05 * (i % 8)), SAMPLE_RATE, "play",
                             ClipInfo(source="starter", label=emotion, intended_emotion=emotion, text=f"s{i % 3}"))
    classifier = services.retraining.emotion_classifier()
    assert classifier.trained_on == 32  # the 16 clips and their copies through the vocoder
    assert services.retraining.classifier_cache.is_file()

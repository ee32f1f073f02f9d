"""The lighter vocoder distilled from HiFi-GAN V1: its shape and initialization from V1's weights, the
distillation's loss, training and resuming, the export that hifigan.Vocoder loads, the command, and the
shipped weights against V1 on real speech."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from insideout.tts import lite_vocoder as lv
from insideout.tts.hifigan import LITE_CHECKPOINT, Vocoder, shared_vocoder
from insideout.tts.mel import MEL, mel_spectrogram
from tests.conftest import tone
from tests.test_eval_tts import write_corpus


def tone_mels(count: int = 3) -> list[torch.Tensor]:
    return [mel_spectrogram(tone(180 + 60 * i, 0.5, MEL.sample_rate))[0] for i in range(count)]


def test_the_student_is_v1_with_only_its_kernel_3_blocks_and_starts_from_v1s_weights():
    teacher = lv.teacher_state()
    student = lv.build_student().state_dict()
    assert student["conv_pre.weight_v"].equal(teacher["conv_pre.weight_v"])
    assert student["ups.2.weight_g"].equal(teacher["ups.2.weight_g"])
    assert student["conv_post.weight_v"].equal(teacher["conv_post.weight_v"])
    for stage in range(4):  # V1 has three blocks per stage (kernels 3, 7, 11); the student keeps the first
        kept = student[f"resblocks.{stage}.convs1.0.weight_v"]
        assert kept.equal(teacher[f"resblocks.{3 * stage}.convs1.0.weight_v"]) and kept.shape[-1] == 3
    assert not any(key.startswith("resblocks.4.") for key in student)
    assert 4.4e6 < sum(v.numel() for k, v in student.items() if not k.endswith("weight_g")) < 4.6e6


def test_the_distillation_loss_is_zero_for_the_teachers_own_wave_and_grows_with_a_difference():
    wave = torch.from_numpy(tone(220, 0.4, MEL.sample_rate)).unsqueeze(0)
    same = lv.distill_losses(wave, wave, lv.DistillConfig())
    assert float(same["total"]) == pytest.approx(0.0, abs=1e-4)
    louder = lv.distill_losses(wave * 0.5, wave, lv.DistillConfig())
    assert float(louder["mel_l1"]) > 0.5 and float(louder["wave_l1"]) > 0 and float(louder["total"]) > 10


def test_a_mel_first_made_in_inference_mode_still_lets_the_distillation_loss_learn():
    from insideout.tts import mel

    mel._filterbank.cache_clear()
    mel._window.cache_clear()
    wave = torch.from_numpy(tone(220, 0.4, MEL.sample_rate)).unsqueeze(0)
    with torch.inference_mode():  # as the vocoder and the evaluation make their mels
        mel_spectrogram(wave)
    student = (wave * 0.5).requires_grad_()
    lv.distill_losses(student, wave, lv.DistillConfig())["total"].backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0


def test_distillation_learns_resumes_from_its_checkpoint_and_refuses_a_different_run(tmp_path):
    pairs = lv.teacher_pairs(tone_mels() + [torch.zeros(80, 5)])  # the 5-frame mel is too short to cut from
    assert len(pairs) == 3 and pairs[0].wave.shape[-1] == pairs[0].mel.shape[-1] * MEL.hop_length
    config = lv.DistillConfig(steps=3, batch_size=2, checkpoint_every=2, learning_rate=2e-4)
    heard = []
    lv.distill(pairs, tmp_path / "run", config, on_step=lambda step, losses, s: heard.append((step, losses["total"])))
    assert [s for s, _ in heard] == [1, 2, 3]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3
    heard.clear()
    lv.distill(pairs, tmp_path / "run", lv.DistillConfig(**{**config.__dict__, "steps": 5}),
               on_step=lambda step, losses, s: heard.append((step, losses["total"])))
    assert [s for s, _ in heard] == [4, 5]  # it went on from step 3
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5]
    with pytest.raises(lv.DistillError, match="new run directory"):
        lv.distill(pairs, tmp_path / "run", lv.DistillConfig(**{**config.__dict__, "learning_rate": 1e-3}))
    with pytest.raises(lv.DistillError, match="no mel"):
        lv.distill([], tmp_path / "empty", config)


def test_the_learning_rate_decays_along_a_cosine_from_the_first_rate_to_the_final_one():
    config = lv.DistillConfig(steps=100, learning_rate=2e-4, final_learning_rate=1e-5)
    assert lv.learning_rate(config, 0) == pytest.approx(2e-4)
    assert lv.learning_rate(config, 50) == pytest.approx((2e-4 + 1e-5) / 2)
    assert lv.learning_rate(config, 100) == lv.learning_rate(config, 150) == pytest.approx(1e-5)


def test_an_interrupted_distillation_keeps_every_finished_step_and_a_new_run_starts_from_an_earlier_student(tmp_path):
    pairs = lv.teacher_pairs(tone_mels(2))
    config = lv.DistillConfig(steps=10, batch_size=2, checkpoint_every=100)

    def interrupt(step, losses, seconds):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lv.distill(pairs, tmp_path / "run", config, on_step=interrupt)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert saved["step"] == 2  # not the last checkpoint's step (none: every 100)
    earlier = lv.export(lv.build_student(saved["student"]), tmp_path / "earlier" / "generator.pt")
    state = lv.load_student_state(earlier)
    student = lv.distill(pairs, tmp_path / "next", lv.DistillConfig(steps=0), init=state)
    assert torch.allclose(student.state_dict()["conv_post.weight_v"], state["conv_post.weight_v"])
    assert not torch.equal(state["conv_post.weight_v"], lv.teacher_state()["conv_post.weight_v"].float())
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    for bad in (tmp_path / "bad.pt", tmp_path / "missing.pt"):
        with pytest.raises(lv.DistillError, match="not an exported lite vocoder"):
            lv.load_student_state(bad)


def test_an_exported_student_is_fp16_and_loads_as_a_vocoder_that_speaks_every_frame(tmp_path):
    path = lv.export(lv.build_student(), tmp_path / "lite" / "generator.pt")
    saved = torch.load(path, weights_only=True)["generator"]
    assert {v.dtype for v in saved.values()} == {torch.float16}
    assert json.loads((tmp_path / "lite" / "config.json").read_text())["resblock_kernel_sizes"] == [3]
    vocoder = Vocoder(path)
    mel = tone_mels(1)[0]
    wave = vocoder(mel)
    assert vocoder.runtime == "onnx" and wave.shape == (1, mel.shape[-1] * MEL.hop_length)
    assert np.isfinite(lv.copy_synthesis_distance(vocoder, [mel]))


def test_the_command_distils_from_a_corpus_writes_the_student_and_reports_it_beside_v1(tmp_path, capsys):
    from insideout.cli import main

    write_corpus(tmp_path / "corpus", per_emotion=2)
    out = tmp_path / "lite" / "generator.pt"
    args = ["distill-vocoder", "--corpus", str(tmp_path / "corpus"), "--run-dir", str(tmp_path / "run"),
            "--clips", "4", "--steps", "2", "--batch-size", "2", "--out", str(out)]
    assert main(args) == 0
    assert out.is_file() and (tmp_path / "run" / "pairs.pt").is_file()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["clips"] == 4 and report["held_out_clips"] == 8 and report["steps"] == 2
    assert "log-mel L1 to the original: V1" in capsys.readouterr().out
    assert main(args[:-4] + ["--steps", "3", "--batch-size", "2", "--out", str(out)]) == 0  # resumes, pairs cached
    assert "from " + str(tmp_path / "run" / "pairs.pt") in capsys.readouterr().out
    assert main(["distill-vocoder", "--corpus", str(tmp_path / "nowhere"), "--run-dir", str(tmp_path / "r2")]) == 2
    assert main(["distill-vocoder", "--corpus", str(tmp_path / "corpus"), "--run-dir", str(tmp_path / "r3"),
                 "--init-from", str(tmp_path / "corpus" / "manifest.jsonl")]) == 2
    assert "not an exported lite vocoder" in capsys.readouterr().err


def test_the_shipped_lite_vocoder_copies_speech_within_0_2_log_mel_l1_of_v1_and_far_from_its_start(tmp_path):
    """Measured on teacher clips: V1 0.265, lite 0.389, V1's LJSpeech weights 0.380, int8 V1 0.931 (the model
    card); its start, V1 without two of its three blocks per stage, 2.5."""
    from insideout.corpus.synth import render_clip

    assert LITE_CHECKPOINT.is_file()
    lite = Vocoder("lite")
    assert lite.name.startswith("hifigan-lite-") and len(lite.name) == len("hifigan-lite-") + 12
    waves = [render_clip("The little boat drifted past the quiet harbor.", emotion, "piper-joe", 3)[0]
             for emotion in ("happy", "sad")]
    mels = [mel_spectrogram(w)[0] for w in waves]
    v1 = lv.copy_synthesis_distance(shared_vocoder("universal"), mels)
    distilled = lv.copy_synthesis_distance(lite, mels)
    start = Vocoder(lv.export(lv.build_student(), tmp_path / "start" / "generator.pt"))
    assert v1 < distilled < v1 + 0.2 and distilled < lv.copy_synthesis_distance(start, mels) - 1.0

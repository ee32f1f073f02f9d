"""scripts/eval_tts.py, on a tiny checkpoint: it renders held-out teacher clips and reports the metrics."""

import json
import subprocess
import sys
from pathlib import Path

from tests import tts_fixtures

ROOT = Path(__file__).resolve().parent.parent


def test_eval_reports_teacher_forced_and_free_running_metrics(tmp_path):
    checkpoint = tts_fixtures.write_insideout(tmp_path / "m.pt", stops=True, max_step=1000)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_tts.py"), "--checkpoint", str(checkpoint),
                             "--per-emotion", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["held_out_clips"] == 8
    assert set(report["teacher_forced"]) == {"examples", "mel_l1", "gate_bce", "attention_diagonality"}
    assert report["free_running"]["stopped_share"] == 1.0  # the fixture's gate stops at once

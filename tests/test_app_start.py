"""`python app.py` as a user runs it: it serves the page and the API, or says what setting is wrong."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(tmp_path: Path, **extra: str) -> dict:
    return {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data"),
            "INSIDEOUT_STARTER_LIBRARY": "0", **extra}


def test_app_serves_the_page_and_the_api(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")],
                            env=app_env(tmp_path, INSIDEOUT_PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "app.py did not serve within 90 s"
            time.sleep(0.3)
        assert httpx.get(url + "/", timeout=10).status_code == 200
        assert httpx.post(f"{url}/api/v1/challenges", json={}, timeout=10).status_code == 503
        assert (tmp_path / "data" / "insideout.db").exists()
        assert (tmp_path / "data" / "secret_key").exists()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_bad_setting_stops_the_start_with_a_clear_message(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "app.py")],
                            env=app_env(tmp_path, INSIDEOUT_PORT="seventy"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "INSIDEOUT_PORT" in result.stderr and "Traceback" not in result.stderr


def test_first_start_builds_the_starter_library_then_serves_challenges(tmp_path):
    port = free_port()
    env = app_env(tmp_path, INSIDEOUT_PORT=str(port), INSIDEOUT_STARTER_LIBRARY="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:  # the build prints its progress, then the server its address
            lines.append(line)
            if line.startswith("InsideOut on"):
                break
        console = "".join(lines)
        assert "Building the starter library" in console and "made 240 clips" in console, console[-2000:]
        assert "starter library:" in console  # the progress bar
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                r = httpx.post(f"{url}/api/v1/challenges", json={}, timeout=5)
                break
            except httpx.HTTPError:
                assert time.time() < deadline
                time.sleep(0.3)
        assert r.status_code == 201 and len(r.json()["clips"]) == 2
    finally:
        proc.terminate()
        proc.wait(10)

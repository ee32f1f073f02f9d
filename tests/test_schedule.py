"""The suite's own schedule: files reach the two workers longest first, from a table of measured seconds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests import schedule

LOG = """\
============================= slowest durations ==============================
72.78s call     tests/test_slow.py::test_a
1.50s setup    tests/test_slow.py::test_b[sqlite]
0.25s teardown tests/test_slow.py::test_b[sqlite]
3.00s call     tests/test_middle.py::TestClass::runTest
(2523 durations < 0.005s hidden.  Use -vv to show these durations.)
"""


@dataclass(frozen=True)
class Item:
    nodeid: str


def test_parse_sums_setup_call_and_teardown_per_file_longest_first():
    assert schedule.parse(LOG) == {"tests/test_slow.py": 74.5, "tests/test_middle.py": 3.0}
    assert schedule.parse("no durations here") == {}


def test_files_go_out_longest_first_and_each_file_keeps_its_own_order(monkeypatch):
    monkeypatch.setattr(schedule, "file_seconds", lambda: {"tests/test_slow.py": 70.0, "tests/test_mid.py": 3.0})
    items = [Item("tests/test_light.py::test_1"), Item("tests/test_mid.py::test_1"), Item("tests/test_slow.py::test_2"),
             Item("tests/test_slow.py::test_1"), Item("tests/test_light.py::test_2")]
    schedule.longest_first(items)
    assert [i.nodeid for i in items] == ["tests/test_slow.py::test_2", "tests/test_slow.py::test_1",
                                         "tests/test_mid.py::test_1", "tests/test_light.py::test_1",
                                         "tests/test_light.py::test_2"]


def test_the_table_names_only_test_files_that_exist():
    root = Path(schedule.__file__).resolve().parent.parent
    table = schedule.file_seconds()
    assert table and all((root / name).is_file() for name in table)


def test_the_refresh_command_writes_the_table_and_refuses_a_log_without_durations(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(schedule, "TABLE", tmp_path / "file_seconds.json")
    (tmp_path / "d.log").write_text(LOG)
    assert schedule.main([str(tmp_path / "d.log")]) == 0
    assert schedule.file_seconds() == {"tests/test_slow.py": 74.5, "tests/test_middle.py": 3.0}
    (tmp_path / "empty.log").write_text("1 passed\n")
    assert schedule.main([str(tmp_path / "empty.log")]) == 1
    assert schedule.main([]) == 2
    assert "no --durations lines" in capsys.readouterr().err

"""Answers a test can give because it can look inside the server's database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from html.parser import HTMLParser

import pandas as pd

from insideout.emotions import EMOTION_IDS
from insideout.services import Services


def control_label(services: Services, challenge_id: str) -> tuple[str, str]:
    challenge = services.db.get_challenge(challenge_id)
    control = next(s for s in challenge.slots if s.is_control)
    return control.slot, services.db.get_clip(control.clip_id)["label"]


def answers(services: Services, challenge_id: str, right: bool, vote: str = "happy") -> dict:
    """Answer every slot: the control right or wrong, the unverified clip with `vote`."""
    challenge = services.db.get_challenge(challenge_id)
    out = {}
    for s in challenge.slots:
        if s.is_control:
            label = services.db.get_clip(s.clip_id)["label"]
            out[s.slot] = label if right else next(e for e in EMOTION_IDS if e != label)
        else:
            out[s.slot] = vote
    return out


def unverified_clip(services: Services, challenge_id: str) -> int | None:
    challenge = services.db.get_challenge(challenge_id)
    return next((s.clip_id for s in challenge.slots if not s.is_control), None)


def start_clip_ids_at(services: Services, first: int) -> None:
    """Make the clip ids of a library start at `first` with a retired row before it, so that an id reaching a
    page is a long, unmistakable number (the browser tests look for them)."""
    with services.db.transaction() as db:
        db["clips"].insert({"id": first - 1, "audio_name": secrets.token_hex(16), "pool": "play",
                            "store_pool": "play", "label": "calm", "label_source": "trusted",
                            "retired": "id-start", "source": "test", "provenance": "{}",
                            "duration_s": 0.4, "sha256": secrets.token_hex(32), "created_at": 0,
                            "updated_at": 0})


def stored_rows(db, table: str) -> list[dict]:
    """Every row of one of the store's tables as the store keeps it (SQLite rows, or DynamoDB items): for tests
    of what is stored, and what is not."""
    if hasattr(db, "read"):
        with db.read() as conn:
            return [dict(r) for r in conn.query(f"SELECT * FROM {table}")]
    return list(db.d.scan(table))


@dataclass(frozen=True)
class ShownTable:
    """A table as the dashboard's HTML shows it: its caption, and its cells as text (header row as columns)."""

    caption: str
    frame: pd.DataFrame


def read_table(markup: str) -> ShownTable:
    """Parse the dashboard's HTML table (web/ui/dashboard.table_html) back into its caption and cells."""

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.caption, self.head, self.rows, self.cell = "", [], [], None
            self.where = ""

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag in ("caption", "thead", "tbody"):
                self.where = tag
            elif tag == "tr" and self.where == "tbody":
                self.rows.append([])
            elif tag in ("th", "td"):
                self.cell = ""
            if tag == "td" and dict(attrs).get("colspan"):
                self.rows.pop()  # the "no rows" line
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.where == "caption":
                self.caption += data
            elif self.cell is not None:
                self.cell += data

        def handle_endtag(self, tag: str) -> None:
            if tag == "caption":
                self.where = ""
            elif tag in ("th", "td") and self.cell is not None:
                (self.head if tag == "th" else self.rows[-1]).append(self.cell)
                self.cell = None

    reader = Reader()
    reader.feed(markup)
    return ShownTable(reader.caption, pd.DataFrame(reader.rows, columns=reader.head))

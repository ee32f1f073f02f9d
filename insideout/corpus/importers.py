"""Bring existing recordings into the library: a CSV manifest (RAVDESS follows in its own importer).

Each file is imported on its own (audio written, then its row), so a bad file is skipped with a
reason and never leaves anything half-written; the report lists every skip.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..emotions import UnknownEmotion, emotion
from ..library import ClipError, ClipInfo, Library
from ..wav import BadAudio

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)} clips, skipped {len(self.skipped)}"]
        lines += [f"  skipped {where}: {why}" for where, why in self.skipped]
        return "\n".join(lines)


class ManifestError(ValueError):
    pass


def import_manifest(library: Library, manifest: str | Path, pool: str,
                    progress: bool = False) -> ImportReport:
    """Import the clips a CSV with columns path,emotion names; paths are relative to the CSV."""
    manifest = Path(manifest)
    if pool not in ("play", "unverified"):
        raise ManifestError(f"--pool must be play or unverified, not {pool!r}")
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = set(rows[0].keys()) if rows else set()
    except FileNotFoundError:
        raise ManifestError(f"{manifest}: no such file") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"{manifest}: not a readable CSV ({e})") from None
    if rows and not {"path", "emotion"} <= header:
        raise ManifestError(f"{manifest}: the header must name the columns path,emotion")
    report = ImportReport()
    for line_no, row in enumerate(tqdm(rows, desc="importing", unit="clip", disable=not progress), 2):
        where = f"line {line_no} ({row.get('path') or '?'})"
        try:
            report.imported.append(_import_row(library, manifest.parent, row, pool))
        except (ClipError, BadAudio, UnknownEmotion, OSError) as e:
            report.skipped.append((where, str(e)))
    return report


def _import_row(library: Library, base: Path, row: dict, pool: str) -> int:
    rel = (row.get("path") or "").strip()
    if not rel:
        raise ClipError("empty path")
    label = (row.get("emotion") or "").strip().lower() or None
    if label is not None:
        emotion(label)
    elif pool == "play":
        raise ClipError("a clip for the play pool needs an emotion")
    path = (base / rel).resolve()
    if not path.is_file():
        raise ClipError(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ClipError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB")
    data = path.read_bytes()
    info = ClipInfo(
        source="manifest",
        label=label if pool == "play" else None,
        intended_emotion=label if pool == "unverified" else None,
        provenance={"file": path.name, "file_sha256": hashlib.sha256(data).hexdigest()},
    )
    return library.add_file(data, pool, info)

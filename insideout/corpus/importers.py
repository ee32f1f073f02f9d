"""Bring existing recordings into the library: a RAVDESS folder, or any clips a CSV manifest lists.

Each file is imported on its own (audio written, then its row), so a bad file is skipped with a
reason and never leaves anything half-written; the report lists every skip. A manifest's file already in the
library (the same bytes, imported by a manifest before) is not imported again, so a rerun after an
interruption imports the rest and duplicates nothing.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import faults
from ..disk_errors import diagnose
from ..emotions import UnknownEmotion, emotion, from_ravdess_code
from ..library import ClipError, ClipInfo, Library
from ..wav import BadAudio

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    already: int = 0  # manifest rows whose file was imported before (a rerun)

    def summary(self) -> str:
        lines = [f"imported {len(self.imported)} clips, skipped {len(self.skipped)}"
                 + (f", {self.already} already in the library" if self.already else "")]
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
    imported = {r["provenance"].get("file_sha256") for r in library.db.clips() if r["source"] == "manifest"}
    for line_no, row in enumerate(tqdm(rows, desc="importing", unit="clip", disable=not progress), 2):
        where = f"line {line_no} ({row.get('path') or '?'})"
        try:
            clip_id = _import_row(library, manifest.parent, row, pool, imported)
            if clip_id is None:
                report.already += 1
            else:
                report.imported.append(clip_id)
            faults.point("import.row")
        except (ClipError, BadAudio, UnknownEmotion, OSError) as e:
            if diagnose(e):
                raise  # a full or read-only data dir is no row's fault: stop, and say so
            report.skipped.append((where, str(e)))
    return report


def _import_row(library: Library, base: Path, row: dict, pool: str, imported: set[str]) -> int | None:
    """The new clip's id; None when the file's bytes were imported before (`imported` gains each new file)."""
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
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in imported:
        return None
    info = ClipInfo(
        source="manifest",
        label=label if pool == "play" else None,
        intended_emotion=label if pool == "unverified" else None,
        provenance={"file": path.name, "file_sha256": sha256},
    )
    clip_id = library.add_file(data, pool, info)
    imported.add(sha256)
    return clip_id


# RAVDESS names every file by its attributes: modality-channel-emotion-intensity-statement-repetition-actor.
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$", re.IGNORECASE)
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}


def parse_ravdess_name(name: str) -> dict[str, str]:
    """The attributes a RAVDESS file name carries; ClipError says why a name is not one."""
    m = RAVDESS_NAME.match(name)
    if not m:
        raise ClipError("not a RAVDESS file name (03-01-EE-II-SS-RR-AA.wav)")
    modality, channel, code, intensity, statement, repetition, actor = m.groups()
    if modality != "03":
        raise ClipError(f"modality {modality} is video; only audio-only files (03) are imported")
    if channel != "01":
        raise ClipError("a song (vocal channel 02), not speech")
    return {
        "emotion": from_ravdess_code(code).id,
        "intensity": {"01": "normal", "02": "strong"}.get(intensity, intensity),
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
    }


def import_ravdess(library: Library, folder: str | Path, pool: str = "play",
                   progress: bool = False) -> ImportReport:
    """Import every RAVDESS speech file under folder: trusted labels to play, or to unverified (the
    label then recorded as intended only) on request. The actor becomes the voice."""
    folder = Path(folder)
    if pool not in ("play", "unverified"):
        raise ManifestError(f"pool must be play or unverified, not {pool!r}")
    if not folder.is_dir():
        raise ManifestError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
    report = ImportReport()
    for path in tqdm(files, desc="importing RAVDESS", unit="clip", disable=not progress):
        try:
            attrs = parse_ravdess_name(path.name)
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ClipError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB")
            data = path.read_bytes()
            info = ClipInfo(
                source="ravdess",
                label=attrs["emotion"] if pool == "play" else None,
                intended_emotion=attrs["emotion"],
                text=RAVDESS_STATEMENTS.get(attrs["statement"]),
                voice=f"ravdess-actor-{attrs['actor']}",
                provenance={"file": path.name, "file_sha256": hashlib.sha256(data).hexdigest(),
                            "intensity": attrs["intensity"], "repetition": attrs["repetition"],
                            "actor_sex": "male" if int(attrs["actor"]) % 2 else "female",
                            "licence": "RAVDESS, CC BY-NC-SA 4.0"},
            )
            report.imported.append(library.add_file(data, pool, info))
        except (ClipError, BadAudio, UnknownEmotion, OSError) as e:
            if diagnose(e):
                raise
            report.skipped.append((str(path.relative_to(folder)), str(e)))
    return report

"""What the views share: the per-tab state kept on the server, Gradio's temp dir, and the page's own script
(accessibility: live regions, names, keys and focus that Gradio's components do not give by themselves)."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...accounts import Session
from ...labeling import LabelingTurn
from ...settings import Settings

log = logging.getLogger("insideout.ui")


@dataclass(frozen=True)
class TabState:
    """One browser tab's state. It lives in a gr.State, which Gradio keeps on the server: the client
    holds none of it, so challenge ids, slots and clip ids stay here."""

    lang: str = "en"
    user: Session | None = None  # signed in
    labeling: LabelingTurn = LabelingTurn()  # the clip the labeling view plays, and those skipped
    labels_sent: int = 0


def use_private_temp_dir(settings: Settings) -> Path:
    """Point Gradio's cache and uploads (GRADIO_TEMP_DIR) at a temp dir apart from the data dir.

    Gradio names cached files by their absolute path in URLs, and serves anything under that dir:
    inside the data dir its URLs would name the data dir; around it, it would serve the data dir."""
    data = settings.data_dir.resolve()

    def overlaps(path: Path) -> bool:
        return path.is_relative_to(data) or data.is_relative_to(path)

    chosen = os.environ.get("GRADIO_TEMP_DIR")
    path = Path(chosen).resolve() if chosen else None
    if path is None or overlaps(path):
        if path is not None:
            log.warning("GRADIO_TEMP_DIR=%s overlaps the data dir; using a temp dir instead", chosen)
        path = Path(tempfile.gettempdir()).resolve() / "insideout-gradio"
    if overlaps(path):
        raise RuntimeError(f"the data dir {data} and Gradio's temp dir {path} overlap: set "
                           "GRADIO_TEMP_DIR to a folder outside INSIDEOUT_DATA_DIR")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    return path

"""Dataset readers: benchmark layouts -> :class:`TrackingSequence` (lazy frames for the tracker).

``open_dataset(format, root, split=None)`` returns a reader with ``sequences()`` and ``sequence(name)``.
Formats (``DATASET_FORMATS``): lasot, tnl2k, otb99_lang, lasher, rgbt234, vtuav, fe108, coesot, felt,
project. Each module's docstring documents the on-disk layout it expects.
"""

from __future__ import annotations

from pathlib import Path

from .base import DatasetReader, EventSource, NpzEventStream, TrackingSequence, read_boxes
from .events import COESOTReader, FE108Reader, FELTReader
from .lasot import LaSOTReader
from .otb_lang import OTB99LangReader
from .project import ProjectReader
from .rgbt import LasHeRReader, RGBT234Reader, VTUAVReader
from .tnl2k import TNL2KReader

DATASET_FORMATS: dict[str, type] = {
    "lasot": LaSOTReader,
    "tnl2k": TNL2KReader,
    "otb99_lang": OTB99LangReader,
    "lasher": LasHeRReader,
    "rgbt234": RGBT234Reader,
    "vtuav": VTUAVReader,
    "fe108": FE108Reader,
    "coesot": COESOTReader,
    "felt": FELTReader,
    "project": ProjectReader,
}


def open_dataset(format: str, root: str | Path, split: str | None = None) -> DatasetReader:
    """Open a reader by format name (unknown format: ValueError; missing root: FileNotFoundError)."""
    if format not in DATASET_FORMATS:
        raise ValueError(
            f"format: unknown dataset format {format!r}; expected one of {sorted(DATASET_FORMATS)}"
        )
    return DATASET_FORMATS[format](root, split)


__all__ = [
    "COESOTReader",
    "DATASET_FORMATS",
    "DatasetReader",
    "EventSource",
    "FE108Reader",
    "FELTReader",
    "LaSOTReader",
    "LasHeRReader",
    "NpzEventStream",
    "OTB99LangReader",
    "ProjectReader",
    "RGBT234Reader",
    "TNL2KReader",
    "TrackingSequence",
    "VTUAVReader",
    "open_dataset",
    "read_boxes",
]

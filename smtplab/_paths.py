"""Where the shipped data and notebooks live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The folder holding the shipped datasets and reference CSVs."""
    for candidate in (_PKG / "_data", _PKG.parent / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("smtplab's data folder is missing from this installation")


def notebooks_dir() -> Path:
    """The folder holding the course notebooks."""
    for candidate in (_PKG / "_notebooks", _PKG.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("smtplab's notebooks folder is missing from this installation")

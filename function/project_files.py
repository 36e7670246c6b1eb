"""Where the files beside the packages live: the checkout in a clone, package data in a wheel.

`xagent render` reads the default Composition (and the policy in its step input) from
compositions/. A clone (editable install) reads the checkout's own file; a wheel carries a
copy under function/_data/ (pyproject's ``force-include``), so an installed xagent renders
with no checkout anywhere. ``xagent xrd`` writes into a checkout only: it needs one.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE_DATA", "checkout", "project_file"]

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
"""Where a wheel keeps the files the checkout keeps at its root (same relative paths)."""
_BESIDE = Path(__file__).resolve().parents[1]


def checkout() -> Path | None:
    """The checkout this package runs from (an editable install), or None (a wheel)."""
    if (_BESIDE / "xrds").is_dir() and (_BESIDE / "pyproject.toml").is_file():
        return _BESIDE
    return None


def project_file(relative: str) -> Path:
    """``relative`` (a path from the repository root) in the checkout, else in the wheel."""
    root = checkout()
    return (root if root is not None else PACKAGE_DATA) / relative

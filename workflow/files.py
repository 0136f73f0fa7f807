"""Files written whole or not at all, for the faces: the engine's name for
:mod:`notifications.files`, so that ``cli`` depends on ``workflow`` only."""

from __future__ import annotations

from notifications.files import write_file

__all__ = ["write_file"]

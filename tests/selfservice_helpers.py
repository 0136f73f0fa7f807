"""What the self-service tests share: an engine whose mail carries links, and the link a
person received."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import make_cohort
from helpers import outbox

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.settings import Settings

BASE_URL = "https://lps.kommune.dk"
LINK = re.compile(r"https?://[^\s/]+(?::\d+)?/l/([A-Za-z0-9_-]+)")


def linked(database: Database, clock: FixedClock, tmp_path: Path, base: str = BASE_URL) -> Workflow:
    """The engine with ``LPS_BASE_URL`` set, its mail folder the test's own."""
    settings = Settings(mail_dir=tmp_path / "mail", base_url=base)
    return Workflow(database, clock=clock, actor="tester", settings=settings)


def self_service_cohort(wf: Workflow, mode: str = "record", code: str = "H1") -> str:
    return make_cohort(wf, code, self_service=mode)


def token_in(text: str, index: int = 0) -> str:
    """The token of the ``index``-th personal link in a mail's text."""
    return LINK.findall(text)[index]


def link_of(wf: Workflow, rule: str, role: str = "participant", index: int = 0) -> str:
    """The token of the link in the latest queued ``rule`` mail to ``role``."""
    rows = [r for r in outbox(wf) if r.rule == rule and r.recipient_role == role]
    return token_in(rows[-1].body_text, index)

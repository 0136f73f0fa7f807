"""200 clients at once submitting the welcome links of 2,000 participants, a tenth of them
racing their manager on the same step, against ``lps serve`` in its own process."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from smtp_server import free_port
from sqlalchemy import func, select
from web_load import enrolled, lps_serve, serve_env, served, submit_all

from workflow.db import Database
from workflow.engine import Workflow
from workflow.models import AUDIT

PARTICIPANTS = 2000
CLIENTS = 200
RACING = PARTICIPANTS // 10


@pytest.mark.slow
def test_every_step_is_recorded_exactly_once_and_nothing_fails(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    people = enrolled(db_url, PARTICIPANTS, base, tmp_path)
    assert len(people) == PARTICIPANTS
    tokens = [p.own for p in people] + [p.managers for p in people[:RACING]]
    random.Random(14).shuffle(tokens)
    with served(lps_serve(port), serve_env(db_url, base), port, tmp_path / "serve.log"):
        seen = submit_all(base, tokens, CLIENTS)
    statuses = Counter(seen.statuses)
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 409}, statuses
    database = Database(db_url)
    with database.reading() as conn:
        recorded = dict(
            conn.execute(
                select(AUDIT.c.participant_id, func.count())
                .where(AUDIT.c.event == "hold_manager_conversation")
                .group_by(AUDIT.c.participant_id)
            ).all()
        )
    assert recorded == {p.participant: 1 for p in people}
    assert Workflow(database).verify_audit().ok
    database.dispose()

"""What the web tests share: ``lps serve``'s application on a real server in a thread, and
headless Chromium from the distribution's package."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selfservice_helpers import token_in

from web.app import RateLimit, create_app
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def serving(workflow: Workflow, port: int, rate_limit: RateLimit | None = None) -> Iterator[str]:
    """The application on 127.0.0.1:``port`` until the block ends; yields its base URL."""
    app = create_app(workflow, form_secret=b"test", rate_limit=rate_limit or RateLimit(burst=0))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        started.wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def web_engine(
    database: Database, clock: FixedClock, tmp_path: Path, smtp_url: str, port: int
) -> Workflow:
    """The engine whose mail goes to ``smtp_url`` and whose links point at ``port``."""
    settings = Settings(
        mail_dir=tmp_path / "mail", smtp_url=smtp_url, base_url=f"http://127.0.0.1:{port}"
    )
    return Workflow(database, clock=clock, actor="tester", settings=settings)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def link_in_mail(messages: list[EmailMessage], to: str, subject_part: str = "") -> str:
    """The path of the personal link in the latest mail to ``to``."""
    mine = [m for m in messages if to in str(m["To"]) and subject_part in str(m["Subject"])]
    return f"/l/{token_in(text_of(mine[-1]))}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, the Debian package, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        playwright.selectors.set_test_id_attribute("id")
        yield _Quick(launched)
        launched.close()


class _Quick:
    """The browser, its pages waiting 5 seconds rather than 30 for what is not there."""

    def __init__(self, launched: Any):
        self.launched = launched

    def new_page(self, **kwargs: Any) -> Any:
        page = self.launched.new_page(**kwargs)
        page.set_default_timeout(5000)
        return page

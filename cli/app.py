"""The application object every command finds in ``ctx.obj``, and error translation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.engine import Workflow


class LpsClickError(click.ClickException):
    """An engine error shown as one ``Error: ...`` line per problem, exit code 1."""

    exit_code = 1

    def __init__(self, lines: list[str]):
        self.lines = lines or ["unknown error"]
        super().__init__(self.lines[0])

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


class LpsUsageError(LpsClickError):
    """Bad usage that click cannot see, such as a malformed ``LPS_NOW``: exit code 2."""

    exit_code = 2


class App:
    """What a command needs: the database URL, the acting administrator, the clock and the
    engine. The environment and the system clock are read here, and only here."""

    def __init__(
        self,
        db_url: str | None = None,
        actor: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        system_clock: Clock | None = None,
    ):
        self.db_url = db_url
        self.actor = actor
        self._env = os.environ if env is None else env
        self._system_clock = system_clock
        self._clock: Clock | None = None
        self._workflow: Workflow | None = None

    @property
    def url(self) -> str:
        from workflow.db import database_url

        return database_url(self.db_url)

    def workflow(self) -> Workflow:
        """The engine on an existing, current database."""
        if self._workflow is None:
            from workflow.engine import Workflow

            self._workflow = Workflow.open(self.url, clock=self.clock(), actor=self.actor)
        return self._workflow

    @property
    def environ(self) -> Mapping[str, str]:
        """The settings this command runs with (the process environment)."""
        return self._env

    def system_clock(self) -> Clock:
        """The machine's clock."""
        if self._system_clock is None:
            from workflow.clock import SystemClock

            self._system_clock = SystemClock()
        return self._system_clock

    def clock(self) -> Clock:
        """``LPS_NOW`` when set, else the system clock; a bad ``LPS_NOW`` is bad usage."""
        if self._clock is None:
            from workflow.clock import FixedClock, parse_moment

            value = self._env.get("LPS_NOW")
            if not value:
                self._clock = self.system_clock()
            else:
                from workflow.errors import InvalidInput

                try:
                    self._clock = FixedClock(parse_moment(value))
                except InvalidInput as exc:
                    raise LpsUsageError([str(exc)]) from None
        return self._clock

    def replayed(self) -> tuple[datetime, datetime] | None:
        """(LPS_NOW, the system clock's now) when ``LPS_NOW`` is more than a day away from
        the system clock, so a replay can say that it is one; else ``None``."""
        from datetime import timedelta

        now = self.clock().now()
        real = self.system_clock().now()
        if self._env.get("LPS_NOW") and abs(now - real) > timedelta(days=1):
            return now, real
        return None

    @staticmethod
    def translate(exc: BaseException) -> click.ClickException | None:
        """Engine errors become one clear line each; anything else is left alone."""
        from workflow.errors import LpsError

        if isinstance(exc, LpsError):
            return LpsClickError(exc.lines())
        return None

    @staticmethod
    def env(name: str, default: str | None = None) -> str | None:
        return os.environ.get(name, default)

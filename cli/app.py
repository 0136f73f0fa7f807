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
    from workflow.settings import Settings


# How a refusal that asks for something (states.errors.Refusal.asks) is mended on the command
# line: the engine names what it needs, the CLI names its option.
OPTIONS_ASKED = {
    "goal": " (--goal TEXT)",
    "reason": " (--reason TEXT)",
    "to": " (--to CODE)",
    "cohort": " (--cohort CODE)",
    "early": "; add --early to send them now",
    "absent": " (register_day --absent)",
    "allow_holiday": "; add --allow-holiday to keep it",
}


def with_option(line: str, asks: str | None = None) -> str:
    """``line`` with the command-line option that gives what it asks for, if it asks."""
    asks = asks or getattr(line, "asks", None)
    return f"{line}{OPTIONS_ASKED[asks]}" if asks in OPTIONS_ASKED else str(line)


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
    """What a command needs: the settings, the acting administrator, the clock and the
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
        self._settings: Settings | None = None
        self._workflow: Workflow | None = None

    @property
    def settings(self) -> Settings:
        """The settings of this run, read once from the environment; a bad ``LPS_NOW`` is
        bad usage."""
        if self._settings is None:
            from workflow.errors import InvalidInput
            from workflow.settings import Settings

            try:
                self._settings = Settings.from_env(self._env, database_url=self.db_url)
            except InvalidInput as exc:
                raise LpsUsageError([str(exc)]) from None
        return self._settings

    @property
    def url(self) -> str:
        return self.settings.database_url

    def workflow(self) -> Workflow:
        """The engine on an existing, current database."""
        if self._workflow is None:
            from workflow.engine import Workflow

            self._workflow = Workflow.open(
                self.url, clock=self.clock(), actor=self.actor, settings=self.settings
            )
        return self._workflow

    def system_clock(self) -> Clock:
        """The machine's clock."""
        if self._system_clock is None:
            from workflow.clock import SystemClock

            self._system_clock = SystemClock()
        return self._system_clock

    def clock(self) -> Clock:
        """``LPS_NOW`` when set, else the system clock."""
        from workflow.clock import FixedClock

        now = self.settings.now
        return FixedClock(now) if now is not None else self.system_clock()

    def replayed(self) -> tuple[datetime, datetime] | None:
        """(LPS_NOW, the system clock's now) when ``LPS_NOW`` is more than a day away from
        the system clock, so a replay can say that it is one; else ``None``."""
        from datetime import timedelta

        now = self.settings.now
        real = self.system_clock().now()
        if now is not None and abs(now - real) > timedelta(days=1):
            return now, real
        return None

    @staticmethod
    def translate(exc: BaseException) -> click.ClickException | None:
        """Engine errors become one clear line each, with the option that mends a refusal
        where the engine names what it asks for; anything else is left alone."""
        from workflow.errors import LpsError

        if isinstance(exc, LpsError):
            lines = exc.lines()
            if len(lines) == 1 and not getattr(lines[0], "asks", None):
                lines = [with_option(lines[0], getattr(exc, "asks", None))]
            return LpsClickError([with_option(line) for line in lines])
        return None

"""The application object every command finds in ``ctx.obj``, and error translation."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from workflow.engine import Workflow
    from workflow.settings import Settings


class LpsClickError(click.ClickException):
    """An engine error shown as one ``Error: ...`` line per problem, exit code 1."""

    exit_code = 1

    def __init__(self, lines: list[str]):
        self.lines = lines or ["unknown error"]
        super().__init__(self.lines[0])

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


class App:
    """What a command needs: the settings, the acting administrator and the engine."""

    def __init__(self, db_url: str | None = None, actor: str | None = None):
        self.db_url = db_url
        self.actor = actor
        self._settings: Settings | None = None
        self._workflow: Workflow | None = None

    @property
    def settings(self) -> Settings:
        """The settings of this run, read once from the environment (the only place lps
        reads it)."""
        if self._settings is None:
            from workflow.settings import Settings

            self._settings = Settings.from_env(os.environ, database_url=self.db_url)
        return self._settings

    @property
    def url(self) -> str:
        return self.settings.database_url

    def workflow(self) -> Workflow:
        """The engine on an existing, current database."""
        if self._workflow is None:
            from workflow.engine import Workflow

            self._workflow = Workflow.open(self.url, actor=self.actor, settings=self.settings)
        return self._workflow

    @staticmethod
    def translate(exc: BaseException) -> click.ClickException | None:
        """Engine errors become one clear line each; anything else is left alone."""
        from workflow.errors import LpsError

        if isinstance(exc, LpsError):
            return LpsClickError(exc.lines())
        return None

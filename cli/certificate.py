"""``lps certificate``: write a participant's certificate (kursusbevis) as PDF, or verify a code."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App
from cli.output import emit, json_option, write_output
from cli.params import OUTPUT_FILE


class _ParticipantByDefault(click.Group):
    """``lps certificate P`` is short for ``lps certificate pdf P``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["pdf", *args]
        return super().resolve_command(ctx, args)


@click.group(
    cls=_ParticipantByDefault,
    subcommand_metavar="PARTICIPANT [--output FILE] | verify CODE",
)
def certificate() -> None:
    """Write or verify a certificate (kursusbevis).

    \b
      lps certificate 12                      writes kursusbevis-12.pdf here
      lps certificate 12 --output bevis.pdf
      lps certificate verify LPS-12-0A1B2C3D  whom it was issued to, and when
    """


@certificate.command("pdf")
@click.argument("participant")
@click.option(
    "--output",
    "-o",
    type=OUTPUT_FILE,
    help="Where to write the PDF (default: kursusbevis-<id>.pdf in this folder).",
)
@click.pass_obj
def pdf(app: App, participant: str, output: Path | None) -> None:
    """Write PARTICIPANT's certificate as PDF, once it is issued."""
    name, content = app.workflow().certificate(participant)
    target = output or Path(name)
    write_output(target, content)
    click.echo(f"Certificate written to {target}")


@certificate.command("verify")
@click.argument("code")
@json_option()
@click.pass_obj
def verify(app: App, code: str, as_json: bool) -> None:
    """Whom the certificate with CODE was issued to, and when."""
    issued = app.workflow().verify_certificate(code)
    emit(
        as_json,
        issued.as_json(),
        f"{issued.code} is valid: issued to {issued.name} ({issued.municipality}), "
        f"cohort {issued.cohort_name} ({issued.cohort_code}), on {issued.issued_on.isoformat()}",
    )

"""``lps serve``."""

from __future__ import annotations

import click

from cli.app import App


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port."
)
@click.option(
    "--rate",
    type=click.IntRange(0, 100_000),
    default=30,
    show_default=True,
    help="Requests a client may make at once before being slowed down (0: no limit).",
)
@click.pass_obj
def serve(app: App, host: str, port: int, rate: int) -> None:
    """Serve the pages behind the personal links in the mail.

    Run it behind a reverse proxy with TLS, at the address LPS_BASE_URL names.
    """
    import socket

    import uvicorn

    from web.app import RateLimit, create_app
    from workflow.errors import InvalidInput

    workflow = app.workflow()
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidInput(
            f"cannot listen on {host}:{port}: {reason}; choose another --host or --port"
        ) from None
    if not workflow.settings.base_url:
        click.echo(
            "Warning: LPS_BASE_URL is not set; mails carry no links to these pages.", err=True
        )
    application = create_app(workflow, rate_limit=RateLimit(burst=rate))
    click.echo(f"Serving on http://{host}:{port} (Ctrl-C stops)", err=True)
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        # Longer than a reverse proxy keeps an idle upstream connection (nginx: 60 s), so
        # that the server never closes one just as the proxy sends on it.
        timeout_keep_alive=75,
        log_level="warning",
    )

"""``magister serve``: run the teacher service (module kept light; imports happen inside)."""

from __future__ import annotations

import os
from typing import Optional

import typer


def command(
    db: str = typer.Option("magister.db", "--db",
                           help="SQLite file (created if missing) or postgresql+psycopg://user:pw@host/db"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 for all)"),
    port: int = typer.Option(8000, help="TCP port"),
    admin_token: Optional[str] = typer.Option(
        None, "--admin-token", envvar="MAGISTER_ADMIN_TOKEN",
        help="token with every right (also from MAGISTER_ADMIN_TOKEN); one is generated and printed if absent"),
    no_auth: bool = typer.Option(False, "--no-auth", help="accept requests without a token (local use only)"),
    checkpoint_every: int = typer.Option(2000, help="events between automatic checkpoints"),
    durable_proposals: bool = typer.Option(
        False, "--durable-proposals",
        help="answer a proposal only once its log entry is on disk (observations always are)"),
    recent_ids: int = typer.Option(
        100_000, "--recent-ids", envvar="MAGISTER_RECENT_IDS", min=1,
        help="client ids remembered exactly per curriculum (about 170 bytes each); older ones take a few "
             "bytes each and a retry of one costs a database read (also from MAGISTER_RECENT_IDS)"),
    log_level: str = typer.Option("warning", help="uvicorn log level"),
) -> None:
    """Serve curricula over HTTP (API under /v1, OpenAPI at /openapi.json, dashboard at /dashboard)."""
    import secrets

    import uvicorn

    from .app import create_app

    if no_auth:
        admin_token = None
    elif not admin_token:
        admin_token = "mga_" + secrets.token_urlsafe(24)
        typer.echo(f"admin token (pass --admin-token or MAGISTER_ADMIN_TOKEN to choose it): {admin_token}")
    app = create_app(db, admin_token=admin_token, checkpoint_every=checkpoint_every,
                     durable_proposals=durable_proposals, freeze_gc=True, recent_ids=recent_ids)
    where = f"http://{host}:{port}"
    typer.echo(f"magister serve: {where}/dashboard  (API {where}/v1, schema {where}/openapi.json), db {db}")
    if admin_token:
        typer.echo(f"open the dashboard with {where}/dashboard#token=<token>")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, timeout_graceful_shutdown=10)

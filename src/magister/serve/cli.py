"""``magister serve``: run the teacher service (module kept light; imports happen inside).

Every option falls back to its ``MAGISTER_*`` environment variable, then to
the default, through the same :class:`~magister.serve.settings.ServeSettings`
that ``app_from_env`` reads (see docs/serve.md, "Settings").
"""

from __future__ import annotations

import os
from typing import Any, Optional

import typer


#: the settings whose option is not "--" + the setting's name with dashes
_FLAGS = {"allowed_hosts": "--allow-host"}


def command(
    db: Optional[str] = typer.Option(
        None, "--db", help="SQLite file (created if missing) or postgresql+psycopg://user:pw@host/db "
                           "[MAGISTER_DB; default magister.db]"),
    host: Optional[str] = typer.Option(None, help="interface to listen on (0.0.0.0 for all) "
                                                  "[MAGISTER_HOST; default 127.0.0.1]"),
    port: Optional[int] = typer.Option(None, help="TCP port [MAGISTER_PORT; default 8000]"),
    admin_token: Optional[str] = typer.Option(
        None, "--admin-token",
        help="token with every right [MAGISTER_ADMIN_TOKEN]; one is generated and printed if absent"),
    no_auth: bool = typer.Option(False, "--no-auth", help="accept requests without a token (local use only)"),
    checkpoint_every: Optional[int] = typer.Option(
        None, help="events between automatic checkpoints [MAGISTER_CHECKPOINT_EVERY; default 2000]"),
    durable_proposals: bool = typer.Option(
        False, "--durable-proposals",
        help="answer a proposal only once its log entry is on disk (observations always are) "
             "[MAGISTER_DURABLE_PROPOSALS; default off]"),
    recent_ids: Optional[int] = typer.Option(
        None, "--recent-ids", min=1,
        help="client ids remembered exactly per curriculum (about 170 bytes each); older ones take a few "
             "bytes each and a retry of one costs a database read [MAGISTER_RECENT_IDS; default 100000]"),
    max_body_bytes: Optional[int] = typer.Option(
        None, "--max-body-bytes", min=1024,
        help="largest request body; larger ones get 413 [MAGISTER_MAX_BODY_BYTES; default 32 MiB]"),
    max_tasks: Optional[int] = typer.Option(
        None, "--max-tasks", min=1, help="largest finite space of a curriculum [MAGISTER_MAX_TASKS; default 1000000]"),
    allow_host: Optional[list[str]] = typer.Option(
        None, "--allow-host",
        help="with --no-auth: another name the server answers to (repeat it; *.lan for a domain), besides "
             "localhost, 127.0.0.1, [::1], --host and this machine's names on 0.0.0.0 "
             "[MAGISTER_ALLOWED_HOSTS, comma-separated]"),
    log_level: str = typer.Option("warning", help="uvicorn log level: critical, error, warning, info, debug or trace"),
) -> None:
    """Serve curricula over HTTP (API under /v1, OpenAPI at /openapi.json, dashboard at /dashboard)."""
    import secrets

    from ..errors import missing_extra

    try:
        try:
            import uvicorn

            from ..webguard import check_can_listen, host_name
            from .app import apply_process_settings, create_app, served_hosts
            from .db import check_database
            from .settings import ServeSettings
        except ImportError as e:  # (the light core has none of them: a traceback for `pip install magister`)
            raise missing_extra("magister serve", "serve", e) from None
        from uvicorn.config import LOG_LEVELS

        if log_level.lower() not in LOG_LEVELS:  # (uvicorn's start-up died on a KeyError traceback)
            raise ValueError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        log_level = log_level.lower()
        if admin_token is not None and not admin_token:
            # (an unset shell variable, --admin-token "$TOKEN": a token was generated without a word, and the one
            # the user meant to set was refused at every request; empty means "unset" only for the variable)
            raise ValueError("--admin-token is empty (an unset shell variable?); give the token, or leave "
                             "--admin-token out to have one generated and printed")
        if no_auth and admin_token is not None:
            # (one of them would be dropped without a word: an open API for someone who gave a token)
            raise ValueError("--no-auth and --admin-token contradict each other; give one of them")
        if allow_host and not no_auth:  # (it would be ignored without a word: a server with a token answers any name)
            raise ValueError("--allow-host applies only with --no-auth (a server with a token answers to any name, "
                             "the token is its check)")
        given: dict[str, Any] = dict(
            db=db, host=host, port=port, admin_token=admin_token, checkpoint_every=checkpoint_every,
            durable_proposals=durable_proposals or None, recent_ids=recent_ids, max_body_bytes=max_body_bytes,
            max_tasks=max_tasks, allowed_hosts=tuple(allow_host) if allow_host else None)
        # a refused value is named by the option it came from ("--allow-host must be ..."), not by its setting
        flags = {name: _FLAGS.get(name, "--" + name.replace("_", "-")) for name in given}
        cfg = ServeSettings.from_env(flags=flags, freeze_gc=True, **given)
        token = None
        if no_auth:
            cfg = cfg.with_(admin_token=None)
        elif not cfg.admin_token:
            token = "mga_" + secrets.token_urlsafe(24)
            cfg = cfg.with_(admin_token=token)
        check_can_listen(cfg.host, cfg.port)  # (a port in use: a line from uvicorn and exit 3, after the banner)
        where = f"http://{host_name(cfg.host, '--host') if cfg.host.strip() else cfg.host}:{cfg.port}"  # [::1]
        apply_process_settings(cfg)
        app = create_app(settings=cfg)
        check_database(app.state.service.engine)  # (a damaged file, a refused connection, a newer schema)
    except ValueError as e:  # a bad option, MAGISTER_* variable or --db (ConfigError too): a message, no traceback
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from None
    if token is not None:  # (printed once the server can start: not above an error)
        typer.echo(f"admin token (pass --admin-token or MAGISTER_ADMIN_TOKEN to choose it): {token}")
    typer.echo(f"magister serve: {where}/dashboard  (API {where}/v1, schema {where}/openapi.json), db {cfg.db}")
    if cfg.admin_token:
        typer.echo(f"open the dashboard with {where}/dashboard#token=<token>")
    else:
        hosts = served_hosts(cfg)
        if "*" in hosts:
            typer.echo("warning: allowed hosts '*' answers requests addressed to any name: a web site whose name is "
                       "made to point at this machine can use the open API")
        else:
            typer.echo(f"answers to: {', '.join(hosts)} (another name or address: --allow-host NAME)")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=log_level, workers=1, timeout_graceful_shutdown=10)


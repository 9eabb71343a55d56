"""The ``magister`` command line.

Each sub-command lives beside the code it drives, in a light module that
exposes a ``command`` function (heavy imports happen inside it), so
``magister --help`` stays fast and a missing optional extra only disables its
own sub-command.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="magister: teachers for anything that learns.", no_args_is_help=True,
                  add_completion=False)

#: sub-command name -> module with a ``command`` function
SUBCOMMANDS = {
    "bench": "magister.bench.cli",
    "serve": "magister.serve.cli",
    "study": "magister.people.cli",
}


def _print_version(value: bool) -> None:
    if value:
        import magister

        typer.echo(f"magister {magister.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print magister's version and exit.")) -> None:
    """magister: teachers for anything that learns."""


@app.command("teachers")
def list_teachers() -> None:
    """List the registered teachers and the kind of space each works on."""
    from rich.table import Table

    import magister as mg
    from magister.bench.cli import wide_console

    table = Table("name", "kind", "class")
    for name in mg.available_teachers():
        cls = mg.teacher_class(name)
        table.add_row(name, cls.kind, f"{cls.__module__}.{cls.__qualname__}")
    console = wide_console()
    console.print(table)
    console.print("Recommended defaults (mg.recommend(space); why: docs/which-teacher.md):")
    for situation, rec in mg.recommendations():
        settings = ", ".join(f"{k}={v}" for k, v in rec.settings.items())
        console.print(f"  {situation}: {rec.name}" + (f" ({settings})" if settings else ""), highlight=False)


def _install_subcommands() -> None:
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        fn = getattr(mod, "command", None)
        if fn is not None:
            app.command(name)(fn)


_install_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""The `xagent` command line: serve the function, render offline, generate and validate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

__all__ = ["RUNTIME_EXTRA_INSTALL", "app"]

RUNTIME_EXTRA_INSTALL = ("pip install 'xagent[runtime]'", "pip install -e '.[runtime]'")
"""How to get `xagent run`'s dependencies: installed, and in a clone (README says both)."""

app = typer.Typer(
    name="xagent",
    help="AI agents as a declarative Kubernetes resource, through Crossplane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    address: Annotated[str, typer.Option(help="Address to listen on for gRPC.")] = "0.0.0.0:9443",
    tls_certs_dir: Annotated[
        str | None,
        typer.Option(
            envvar="TLS_SERVER_CERTS_DIR", help="Directory with tls.key, tls.crt, ca.crt."
        ),
    ] = None,
    insecure: Annotated[bool, typer.Option(help="Serve without mTLS (local development).")] = False,
    debug: Annotated[bool, typer.Option("--debug", "-d", help="Verbose logging.")] = False,
) -> None:
    """Serve the composition function over gRPC (what Crossplane calls)."""
    from crossplane.function import logging
    from crossplane.function import runtime as sdk_runtime

    from function import server
    from function.fn import FunctionRunner

    logging.configure(logging.Level.DEBUG if debug else logging.Level.INFO)
    if not insecure and not tls_certs_dir:
        _fail("--tls-certs-dir (or TLS_SERVER_CERTS_DIR) is required unless --insecure")
    creds = sdk_runtime.load_credentials(tls_certs_dir) if tls_certs_dir else None
    server.serve(FunctionRunner(), address, creds=creds, insecure=insecure)


@app.command()
def xrd(
    root: Annotated[
        Path | None,
        typer.Option(help="Project root to write into; the checkout this package runs from."),
    ] = None,
    check: Annotated[bool, typer.Option(help="Fail if the files differ, write nothing.")] = False,
) -> None:
    """Generate xrds/, the input CRD and README's API reference from the spec model."""
    from function.schema import README, generated_files, readme_with_reference

    root = root if root is not None else _project_root()
    stale = []
    files = generated_files()
    readme = root / README
    if readme.exists():
        files[README] = readme_with_reference(readme.read_text())
    for rel, text in files.items():
        path = root / rel
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        typer.echo(f"wrote {rel}", err=True)
    if stale:
        _fail(f"out of date in {root} (run `xagent xrd --root {root}`): " + ", ".join(stale))
    if check:
        typer.echo(f"up to date: {len(files)} generated files in {root}", err=True)


def _project_root() -> Path:
    """The checkout this package runs from (an editable install), wherever the shell is."""
    from function.project_files import checkout

    root = checkout()
    if root is None:
        _fail("cannot find the project (no xrds/ beside this package): pass --root")
    return root


@app.command()
def render(
    xr_files: Annotated[
        list[Path],
        typer.Argument(
            help="The XAgent (or Agent claim) to render; several files or directories of them "
            "render one after another in one process.",
            show_default=False,
        ),
    ],
    composition: Annotated[
        Path | None, typer.Option("--composition", help="Composition file.")
    ] = None,
    function_input: Annotated[
        Path | None,
        typer.Option(
            "--function-input", help="Input (policy) overriding the Composition step's input."
        ),
    ] = None,
    observed_resources: Annotated[
        Path | None,
        typer.Option(
            "--observed-resources", "-o", help="Observed composed resources: a file or directory."
        ),
    ] = None,
    required_resources: Annotated[
        Path | None,
        typer.Option(
            "--required-resources",
            "-e",
            help="Required resources (a definitionRef's ConfigMap): a file or directory.",
        ),
    ] = None,
    include_full_xr: Annotated[
        bool,
        typer.Option(
            "--include-full-xr",
            "-x",
            help="Print the XR's spec and metadata too, not only its status.",
        ),
    ] = False,
) -> None:
    """Run the composition in-process and print what `crossplane render` would print."""
    from crossplane.function import logging

    from function.render import RenderError, render_many

    # stdout carries only the YAML stream.
    logging.configure(logging.Level.DISABLED)
    try:
        for out in render_many(
            xr_files,
            composition=composition,
            function_input=function_input,
            observed=observed_resources,
            required=required_resources,
            include_full_xr=include_full_xr,
        ):
            sys.stdout.write(out)
    except RenderError as e:
        _fail(str(e))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="YAML files of XAgents or any manifest.")],
    allow_missing_schemas: Annotated[
        bool,
        typer.Option(help="Skip kinds no vendored schema covers instead of failing on them."),
    ] = False,
) -> None:
    """Validate manifests against the XRD and the vendored Kubernetes and CRD schemas."""
    from function.validate import validate_files

    report = validate_files(files)
    for line in report.skipped:
        prefix = "skipped" if allow_missing_schemas else "invalid"
        typer.echo(f"{prefix} (no schema for this kind): {line}", err=True)
    for line in report.errors:
        typer.echo(f"invalid: {line}", err=True)
    if report.errors or (report.skipped and not allow_missing_schemas):
        raise typer.Exit(1)
    typer.echo(f"{len(files)} file(s) valid", err=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def run(ctx: typer.Context) -> None:
    """Run one agent turn locally on embedded defaults (`xagent run --help` for options)."""
    # The runtime and its provider clients take seconds to import and are an extra;
    # load them only for this command, so every other command stays fast and light.
    try:
        from runtime.cli import run as run_turn
    except ImportError as e:
        installed, clone = RUNTIME_EXTRA_INSTALL
        _fail(
            f"`xagent run` needs the runtime extra (missing {e.name}): {installed}, "
            f"or {clone} in a clone"
        )
    command = typer.main.get_command(_single_command(run_turn))
    command.main(args=ctx.args, prog_name="xagent run")


def _single_command(fn) -> typer.Typer:
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    sub.command()(fn)
    return sub

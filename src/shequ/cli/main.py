"""`shequ`: run, migrate and administer the platform."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shequ.config import get_settings
from shequ.kit.errors import ShequError
from shequ.platform.models import ScopeKind

app = typer.Typer(
    help="Shequ (社区): a CIM-based smart community platform. "
    "The database comes from SHEQU_DATABASE_URL (default: SQLite under var/).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema: migrate to the current version.", no_args_is_help=True)
community_app = typer.Typer(help="Communities (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="User accounts and their roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(community_app, name="community")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _services():  # type: ignore[no-untyped-def]
    from shequ.api.app import build_services

    return build_services(get_settings())


def _fail(exc: ShequError) -> None:
    console.print(f"[red]{exc.code}[/red]: {exc.user_message()}")
    for err in exc.errors:
        console.print(f"  - {err}")
    raise typer.Exit(2)


def _upgrade(services) -> None:  # type: ignore[no-untyped-def]
    from shequ.migrations import upgrade

    upgrade(services.db.engine)
    with services.db.write() as session:
        services.platform.sync_roles(session)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate every table to the current version, and refresh built-in roles."""
    services = _services()
    with console.status("migrating the database…"):
        _upgrade(services)
    from shequ.migrations import current

    console.print(f"database at revision [bold]{current(services.db.engine)}[/bold] "
                  f"({services.settings.public_summary()['database']})")


@community_app.command("create")
def community_create(
    code: Annotated[str, typer.Argument(help="Stable community code, e.g. DEMO")],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    region: Annotated[str | None, typer.Option(help="Code of the street/district above it")] = None,
    address: Annotated[str | None, typer.Option(help="Postal address")] = None,
) -> None:
    """Create a community."""
    from shequ.platform.scoping import SYSTEM

    services = _services()
    try:
        with services.db.write() as session:
            community = services.platform.create_community(session, SYSTEM, code, name, region,
                                                           address)
            console.print(f"community {community.code} created (id {community.id})")
    except ShequError as exc:
        _fail(exc)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Log-in name")],
    password: Annotated[str, typer.Option(help="Password meeting the password policy")],
    role: Annotated[str, typer.Option(help="Built-in role, e.g. property_manager")],
    community: Annotated[str | None, typer.Option(help="Community code of the scope")] = None,
    scope: Annotated[ScopeKind | None, typer.Option(
        help="Scope kind (default: community with --community, else platform)")] = None,
    scope_id: Annotated[int | None, typer.Option(help="Region, building or household id")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the portal")] = "",
) -> None:
    """Create a user and grant one role."""
    from shequ.platform.scoping import SYSTEM

    services = _services()
    kind = scope or (ScopeKind.community if community else ScopeKind.platform)
    try:
        with services.db.write() as session:
            target = services.platform.community(session, community) if community else None
            user = services.platform.create_user(session, SYSTEM, username, password,
                                                 display_name=display_name)
            services.platform.assign_role(session, SYSTEM, user, role, kind, community=target,
                                          scope_id=scope_id)
            console.print(f"user {username} created with role {role} ({kind.value})")
    except ShequError as exc:
        _fail(exc)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exit 1 naming the first entry changed, removed or inserted."""
    services = _services()
    with services.db.read() as session:
        result = services.platform.audit_log.verify(session)
    if result.ok:
        console.print(f"[green]audit chain intact[/green]: {result.checked} entries verified")
        return
    console.print(f"[red]audit chain broken at entry {result.first_broken}[/red]: {result.reason}"
                  f" ({result.checked} entries before it are intact)")
    raise typer.Exit(1)


@app.command("openapi")
def openapi(
    out: Annotated[str | None, typer.Option(help="Write to this file instead of stdout")] = None,
) -> None:
    """Print the OpenAPI 3.1 document (the web portal generates its API types from it)."""
    import json

    from shequ.api.app import create_app

    document = json.dumps(create_app().openapi(), ensure_ascii=False, indent=1)
    if out:
        from pathlib import Path

        Path(out).write_text(document + "\n", encoding="utf-8")
    else:
        sys.stdout.write(document + "\n")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the web portal and the API."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("shequ.api.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_level="warning",
                access_log=False)


@app.command("demo")
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="Serve the platform after loading")] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Migrate, load the demo community (code DEMO) once, print the log-ins, then serve."""
    from shequ import demo as demo_pkg

    services = _services()
    _upgrade(services)
    with services.db.read() as session:
        exists = demo_pkg.demo_exists(session)
    if exists:
        console.print("demo community DEMO already loaded")
    else:
        _load_demo(services)
    settings = services.settings
    url = f"http://{host or settings.host}:{port or settings.port}"
    _print_logins(url, demo_pkg)
    if serve_after:
        serve(host, port)


def _load_demo(services) -> None:  # type: ignore[no-untyped-def]
    from shequ import demo as demo_pkg

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("tenancy, parties and staff accounts", total=None)
        with services.db.write() as session:
            community = demo_pkg.load_foundation(session, services.platform)
            for label, step in demo_pkg.STEPS:
                progress.update(task, description=label)
                step(session, services.platform, community)
        progress.update(task, description="demo community loaded")


def _print_logins(url: str, demo_pkg) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Shequ demo — open {url}  (API docs: {url}/api/v1/docs)")
    table.add_column("user")
    table.add_column("password")
    table.add_column("role")
    for login in demo_pkg.logins():
        table.add_row(login.username, demo_pkg.DEMO_PASSWORD, f"{login.role} ({login.scope})")
    Console().print(table)


def main() -> None:
    """Entry point."""
    try:
        app()
    except ShequError as exc:
        _fail(exc)
    sys.exit(0)

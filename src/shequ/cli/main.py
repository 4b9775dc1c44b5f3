"""`shequ`: run, migrate and administer the platform."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
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
cim_app = typer.Typer(help="The community CIM: levels and model checks.", no_args_is_help=True)
app.add_typer(cim_app, name="cim")
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
        Path(out).write_text(document + "\n", encoding="utf-8")
    else:
        sys.stdout.write(document + "\n")


def _community(services, code: str):  # type: ignore[no-untyped-def]
    with services.db.read() as session:
        community = services.platform.community(session, code)
        session.expunge(community)
    return community


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(
        help="register (楼盘表 CSV/XLSX), geojson, cityjson, citygml or ifc")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    community: Annotated[str, typer.Option(help="Community code")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    crs: Annotated[str | None, typer.Option(help="CRS to assume when the file declares "
                                            "none, e.g. EPSG:4547")] = None,
    at: Annotated[str | None, typer.Option(help="Place the model's origin at LON,LAT "
                                           "(BIM files without georeferencing)")] = None,
) -> None:
    """Import the housing register or a model file into a community: all of it or nothing."""
    import json

    from shequ.cim.imports import import_file, import_register
    from shequ.platform.scoping import SYSTEM

    services = _services()
    place = tuple(float(v) for v in at.split(",")) if at else None
    try:
        target = _community(services, community)
        with _bar(f"importing {file.name}") as progress, services.db.write() as session:
            content = file.read_bytes()
            if kind == "register":
                report = import_register(session, target, file.name, content, progress)
            else:
                report = import_file(session, target, kind, file.name, content, crs=crs,
                                     place_at=place, progress=progress)  # type: ignore[arg-type]
            services.platform.record(session, SYSTEM, f"cim.import.{kind}", "buildings", None,
                                     target.id, None, {"file": file.name, **report.as_dict()})
    except ShequError as exc:
        if as_json:
            sys.stdout.write(json.dumps({"kind": kind, "created": {}, "errors": exc.errors or [
                {"message": exc.user_message()}]}, ensure_ascii=False) + "\n")
            raise typer.Exit(2) from exc
        _fail(exc)
        return
    result = report.as_dict()
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    created = ", ".join(f"{n} {k}" for k, n in result["created"].items()) or "nothing"
    console.print(f"[green]imported[/green] {file.name}: {created}; "
                  f"CIM level reached {result['cim_level']}")
    for warning in result["warnings"][:20]:
        console.print(f"  [yellow]warning[/yellow] {warning['location']}: {warning['message']}")


@app.command("export")
def export_command(
    kind: Annotated[str, typer.Argument(help="cityjson, geojson or 3dtiles")],
    community: Annotated[str, typer.Option(help="Community code")],
    out: Annotated[Path, typer.Option(help="Output file (cityjson) or folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Export the community model: CityJSON 2.0, GeoJSON per object kind, or 3D Tiles 1.1."""
    import json

    from shequ.cim.export import export

    if kind not in ("cityjson", "geojson", "3dtiles"):
        console.print(f"[red]unknown export kind[/red] {kind}: use cityjson, geojson or 3dtiles")
        raise typer.Exit(2)
    services = _services()
    target = _community(services, community)
    with console.status(f"exporting {kind}…"), services.db.write() as session:
        result = export(session, target.id, kind, out)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        console.print(f"[green]exported[/green] {kind} to {result['path']}")


@cim_app.command("levels")
def cim_levels(
    community: Annotated[str, typer.Option(help="Community code")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Objects per CIM level, missing mandatory (M) data, and what each building needs next."""
    import json

    from shequ.cim.levels import report
    from shequ.cim.service import site
    from shequ.kit.i18n import t

    services = _services()
    target = _community(services, community)
    with services.db.write() as session:
        result = report(session, target.id, site(session, target.id).target_level)
    if as_json:
        data = {"community": community, "target_level": result.target_level,
                "reached_level": result.reached, "counts": result.counts,
                "missing_mandatory": result.missing_mandatory,
                "next_steps": [{**s, "needs": t(s["needs"])} for s in result.next_steps]}
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"CIM levels of {community} (target CIM{result.target_level})")
    table.add_column("objects")
    for level in (1, 2, 3, 4):
        table.add_column(f"CIM{level}", justify="right")
    for kind, levels in result.counts.items():
        table.add_row(kind, *(str(levels.get(level, 0)) for level in (1, 2, 3, 4)))
    Console().print(table)
    for item in result.missing_mandatory:
        console.print(f"[red]missing mandatory data[/red]: {item}")
    for step in result.next_steps[:30]:
        console.print(f"building {step['code']}: CIM{step['level']} → CIM{step['next']} "
                      f"{t(step['needs'])}")


@contextlib.contextmanager
def _bar(label: str) -> Iterator[Callable[[str, int, int], None]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None)

        def update(stage: str, done: int, total: int) -> None:
            progress.update(task, description=f"{label}: {stage}", completed=done, total=total)

        yield update


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


@app.command("ingest")
def ingest(
    mqtt_url: Annotated[str | None, typer.Option(
        "--mqtt-url", help="Broker and ingest account, mqtt://user:password@host:port "
        "(default: SHEQU_MQTT_URL)")] = None,
    client_id: Annotated[str | None, typer.Option(
        help="MQTT client id; keep it stable: the broker keeps the session under it")] = None,
    communities: Annotated[str | None, typer.Option(
        help="Only these communities (comma-separated topic ids): split the load between "
        "workers by community")] = None,
    share_group: Annotated[str | None, typer.Option(
        help="Shared-subscription group instead (note: Mosquitto 2.0 does not restore shared "
        "subscriptions after a broker restart)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Messages per transaction")] = None,
) -> None:
    """Run the MQTT ingest worker: store device messages, send commands, keep rollups.

    Stops cleanly on SIGTERM or Ctrl-C (the batch at hand is stored and acknowledged).
    """
    from shequ.sensing.cli import run_ingest, sensing_settings

    settings = sensing_settings(mqtt_url=mqtt_url, client_id=client_id, communities=communities,
                                share_group=share_group, batch_size=batch_size)
    try:
        run_ingest(_services(), settings)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command("simulate")
def simulate(
    community: Annotated[str, typer.Option(help="Community code whose devices to simulate")],
    mqtt_url: Annotated[str | None, typer.Option(
        "--mqtt-url", help="Broker and an account allowed to speak for the community's "
        "devices; default: a simulator account made through SHEQU_SENSING_DYNSEC_URL")] = None,
    speed: Annotated[float, typer.Option(
        min=0.01, max=3600, help="Time compression: 60 = a simulated minute per second")] = 1.0,
    duration: Annotated[float, typer.Option(
        min=0, help="Stop after this many real seconds (0: until Ctrl-C)")] = 0.0,
    incident: Annotated[list[str] | None, typer.Option(
        help="Play an incident, NAME or NAME:DEVICE (smoke, gas_leak, bin_full, intrusion, "
        "well_flooding, lamp_fault); repeatable")] = None,
    interval: Annotated[float, typer.Option(
        min=1, help="Sampling interval (simulated seconds) of types that declare none")] = 60.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same values)")] = 0,
) -> None:
    """Simulate a community's registered devices over MQTT: telemetry at the guide's rates,
    heartbeats, state, answers to commands, and scripted incidents."""
    from shequ.sensing.cli import run_simulate

    try:
        counts = run_simulate(_services(), community, mqtt_url, speed=speed, duration_s=duration,
                              incidents=incident or [], seed=seed, interval_s=interval)
    except (ValueError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except ShequError as exc:
        _fail(exc)
        return
    console.print("published: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


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

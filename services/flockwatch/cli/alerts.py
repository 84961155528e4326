"""`flockwatch watchlist ...`, `flockwatch alerts ...` and `flockwatch worker alerts`: JSON out, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from flockwatch.store import Store

watchlist_app = typer.Typer(
    help="Watched entities (candidates...): names, aliases, handles, languages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
alerts_app = typer.Typer(
    help="Alerts: list, acknowledge, resolve; check a rules file; run a windowed sweep.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _echo(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _store() -> Store:
    from flockwatch.config import get_settings
    from flockwatch.store import prepare_store

    # A store that is down or still starting is waited for (bounded), then reported in one line by the CLI.
    return prepare_store(get_settings())


# --- watchlist -------------------------------------------------------------------------------------------


@watchlist_app.command("add")
def watchlist_add(
    entity_id: Annotated[str | None, typer.Argument(help="Entity id (slug), unless --file is given.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name, matched as a phrase.")] = None,
    alias: Annotated[list[str] | None, typer.Option(help="Another phrase (repeatable).")] = None,
    handle: Annotated[list[str] | None, typer.Option(help="Account handle, e.g. @HillaryClinton (repeatable).")] = None,
    language: Annotated[list[str] | None, typer.Option(help="Only posts in this language (repeatable).")] = None,
    kind: Annotated[str, typer.Option(help="Label shown in alerts, e.g. candidate.")] = "entity",
    file: Annotated[Path | None, typer.Option("--file", help="YAML watchlist file (entities: [...]).")] = None,
) -> None:
    """Add or replace watched entities, from flags or a YAML file; malformed input is rejected with its line."""
    from pydantic import ValidationError

    from flockwatch.alerts.watchlist import WatchEntity, parse_watchlist
    from flockwatch.messages import describe_error
    from flockwatch.yamlconf import ConfigError

    if file is not None:
        if entity_id is not None or name is not None:
            _fail("give either --file or an entity id with --name, not both")
        try:
            entities = parse_watchlist(file.read_text(encoding="utf-8"), str(file))
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
        except ConfigError as exc:
            _fail(str(exc))
        if not entities:
            _fail(f"{file}: no entities")
    else:
        if entity_id is None or name is None:
            _fail("give an entity id and --name (or --file FILE)")
        try:
            entities = [
                WatchEntity(
                    id=entity_id,
                    name=name,
                    kind=kind,
                    aliases=alias or [],
                    handles=handle or [],
                    languages=language or [],
                )
            ]
        except ValidationError as exc:
            _fail(describe_error(exc))
    added = _store().watchlists.put([e.model_dump() for e in entities])
    _echo({"added": added, "ids": [e.id for e in entities]})


@watchlist_app.command("list")
def watchlist_list() -> None:
    """Every watched entity, as JSON."""
    _echo(_store().watchlists.entities())


@watchlist_app.command("remove")
def watchlist_remove(entity_id: Annotated[str, typer.Argument(help="Entity id.")]) -> None:
    """Stop watching an entity."""
    if not _store().watchlists.delete(entity_id):
        _fail(f"no watched entity {entity_id!r}", 1)
    _echo({"removed": entity_id})


# --- alerts ----------------------------------------------------------------------------------------------

_BRIEF = ("alert_id", "status", "severity", "rule", "entity", "created_at", "first_seen", "post_count", "summary")


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="new, acknowledged or resolved.")] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
    rule: Annotated[str | None, typer.Option(help="Rule name.")] = None,
    entity: Annotated[str | None, typer.Option(help="Exact entity, e.g. 'hashtag:#maga'.")] = None,
    size: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    full: Annotated[
        bool, typer.Option("--full", help="Whole documents (evidence, posts, history); implies --json.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines instead of the table.")] = False,
) -> None:
    """Alerts, newest first: a readable table (narratives shown with what they say), or JSON with --json."""
    from flockwatch.alerts.lifecycle import TransitionError, parse_status
    from flockwatch.alerts.rules import SEVERITIES

    if status is not None:
        try:
            status = parse_status(status).value
        except TransitionError as exc:
            _fail(str(exc))
    if severity is not None and severity not in SEVERITIES:
        _fail(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    store = _store()
    docs = store.alerts.find(status=status, severity=severity, rule=rule, entity=entity, size=size)
    if full or as_json:
        _echo(docs if full else [{k: d.get(k) for k in _BRIEF if k in d} for d in docs])
        return
    from flockwatch.alerts.readable import alert_table, narrative_ids

    typer.echo(alert_table(docs, store.rollups.narrative_texts(narrative_ids(docs))))


def _change_status(alert_id: str, target: str, by: str | None, note: str | None) -> None:
    from flockwatch.alerts.lifecycle import TransitionError, parse_status, transition

    goal = parse_status(target)
    now = datetime.now(UTC)

    def change(doc: dict[str, Any]) -> dict[str, Any]:
        return transition(doc, goal, now, by, note)

    try:
        doc = _store().alerts.update(alert_id, change)
    except KeyError:
        _fail(f"no alert {alert_id!r}", 1)
    except TransitionError as exc:
        _fail(f"alert {alert_id}: {exc}", 1)
    _echo({"alert_id": alert_id, "status": doc["status"], "history": doc.get("history", [])})


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    by: Annotated[str | None, typer.Option(help="Who.")] = None,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Acknowledge a new alert (new → acknowledged)."""
    _change_status(alert_id, "acknowledged", by, note)


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    by: Annotated[str | None, typer.Option(help="Who.")] = None,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Resolve an alert (new or acknowledged → resolved); later matches open a new alert."""
    _change_status(alert_id, "resolved", by, note)


@alerts_app.command("check-config")
def alerts_check_config(
    path: Annotated[Path, typer.Argument(help="Alerts config YAML (detector, rules, sinks).")],
) -> None:
    """Validate an alerts config file; every problem is reported with its line."""
    from flockwatch.alerts.rules import load_config
    from flockwatch.yamlconf import ConfigError

    try:
        config = load_config(path)
    except ConfigError as exc:
        _fail(str(exc))
    _echo({"ok": True, "rules": [r.name for r in config.rules], "sinks": [s.name for s in config.sinks]})


@alerts_app.command("sweep")
def alerts_sweep(
    end: Annotated[str | None, typer.Option(help="Window end, ISO 8601 (default: now).")] = None,
    window: Annotated[str, typer.Option(help="Window length, e.g. 6h.")] = "6h",
    lookback: Annotated[str, typer.Option(help="Extra history for the baseline, e.g. 24h.")] = "24h",
    config: Annotated[Path | None, typer.Option(help="Alerts config (default: $FLOCKWATCH_ALERTS_CONFIG).")] = None,
) -> None:
    """One windowed burst sweep over stored posts (what the `alerts` DAG runs)."""
    from flockwatch.adapters.alert_sinks import build_sinks
    from flockwatch.alerts.rules import load_config
    from flockwatch.stages.alert_sweep import sweep
    from flockwatch.yamlconf import ConfigError, parse_duration

    try:
        cfg = load_config(config)
        span, back = parse_duration(window), parse_duration(lookback)
        end_at = datetime.fromisoformat(end) if end else None
        sinks = build_sinks(cfg.sinks)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    if end_at is not None and end_at.tzinfo is None:
        end_at = end_at.replace(tzinfo=UTC)
    _echo(sweep(_store(), cfg, end=end_at, window=span, lookback=back, sinks=sinks).as_dict())

"""Every command README.md, `flockwatch --help` (and each sub-command's) and `flockwatch demo` show is run by a test.

The README's commands are read from README.md itself (bash blocks, the command tables, inline `flockwatch ...`),
and the command tree from the Typer app, so a command added to either without a test here fails
`test_every_command_has_a_test` / `test_every_readme_command_is_covered`. Each command maps, in COVERAGE, to the
tests that run it and check its output (a field, a count, a header), here or elsewhere in the suite.

Service-backed checks run against the real Kafka and OpenSearch in a scratch namespace (fresh topic and index
prefix, dropped afterwards), on a small slice of IRA 2016 whose expected output is computed in-process:

- `demo_run`: `flockwatch demo --limit 200 --fresh`, as the Makefile runs it; each "Try next" line it prints is
  then run as printed, and its output compared with what the 200 posts say.
- `pipeline`: `flockwatch replay` (by name, and `auto --path` with `--speed`) plus one malformed record, the seven
  `flockwatch worker ...` commands as processes, stopped by SIGTERM once caught up; then the store commands.

Training commands (minutes to hours) are covered by their `--help` here and by the tests that run what they run
on a subset, or a part of it; COVERAGE says which.
"""

from __future__ import annotations

import ast
import base64
import functools
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer import _click as click
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from flockwatch.adapters import local_services
from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.cli.app import app
from flockwatch.cli.text import FIELD_COMMAND, TopGroup
from flockwatch.config import Settings
from flockwatch.replay import get_format, normalize_record, read_dataset
from flockwatch.schema import Post
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from tests.namespace_env import namespace_env

pytestmark = pytest.mark.e2e

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
N = 200  # IRA 2016 rows per service-backed run: seconds of replay, enough for repeated hashtags and narratives
HERE = "tests/e2e/test_readme_commands.py"

# Command (its path below `flockwatch`; "" is `flockwatch` itself, `top FIELD` any field) → the tests that run it
# and check its output. `--help` of every command and group is also run by test_help_pages.
COVERAGE: dict[str, tuple[str, ...]] = {
    "": ("test_help_pages",),
    # --kafka-brokers/--store-nodes: the cluster fixture runs up, status and down --purge with them.
    "up": (
        "test_up_and_status",
        "tests/integration/cluster/test_clusters.py::test_the_settings_describe_the_kafka_cluster",
    ),
    "status": (
        "test_up_and_status",
        "tests/integration/cluster/test_clusters.py::test_the_settings_describe_the_kafka_cluster",
    ),
    "down": (
        "test_down_and_purge_in_a_scratch_state_dir",
        "tests/integration/cluster/test_clusters.py::test_the_settings_describe_the_kafka_cluster",
        "tests/unit/adapters/test_local_services.py::test_stop_terminates_our_process",
    ),
    "replay": ("test_replay_and_workers",),
    "demo": (
        "test_demo_summary_and_try_next",
        "tests/e2e/test_demo.py::test_demo_replays_and_indexes_every_post",
        # --workers 3
        "tests/integration/cluster/test_scale_out.py::test_one_and_more_workers_store_the_same_documents",
    ),
    "search": ("test_demo_summary_and_try_next", "test_search_and_top_field"),
    "dead-letters": ("test_dead_letters",),
    "lag": (
        "tests/integration/adapters/test_kafka_lag_age.py::test_lag_command_json_and_exit_code",
        "tests/integration/adapters/test_kafka_lag_age.py::test_old_unread_records_warn_and_a_caught_up_group_is_ok",
    ),
    "narratives": ("tests/unit/text/test_detector.py::test_cli_narratives_stable_across_runs",),
    "match": ("tests/e2e/test_media_cli.py::test_bank_add_then_match",),
    "worker normalize": ("test_replay_and_workers",),
    "worker text": ("test_replay_and_workers",),
    "worker media": ("test_replay_and_workers",),
    "worker index": (
        "test_replay_and_workers",
        "tests/integration/adapters/test_outages.py::test_killed_worker_loses_nothing",
    ),
    "worker rollups": ("test_replay_and_workers", "test_top_narratives_and_accounts"),
    "worker graph": ("test_replay_and_workers",),
    "worker alerts": ("test_replay_and_workers",),
    "graph coordination": ("tests/unit/graph/test_coordination.py::test_coordination_cli",),
    "graph cascades": (
        "tests/unit/graph/test_cascades.py::test_cascades_cli",
        "tests/unit/graph/test_cascades.py::test_history_cli_learns_judged_cascades_and_cascades_cli_fuses_it",
    ),
    "graph history": (
        "tests/unit/graph/test_cascades.py::test_history_cli_learns_judged_cascades_and_cascades_cli_fuses_it",
        # --from-store, with and without --labels
        "tests/integration/stages/test_graph_history.py::test_graph_worker_fuses_a_history_of_judged_stored_cascades",
    ),
    "graph verdict": (
        "tests/integration/stages/test_graph_history.py::test_graph_worker_fuses_a_history_of_judged_stored_cascades",
    ),
    "graph verdicts": (
        "tests/integration/stages/test_graph_history.py::test_graph_worker_fuses_a_history_of_judged_stored_cascades",
    ),
    "graph export": ("tests/integration/stages/test_graph.py::test_graph_windows_dag_and_export",),
    # Training (minutes to hours): `--help` here, and parts of what each command runs, on subsets: cascade-risk
    # retrains fully (seconds); synthetic-image and voice-clone train on a subset; text-detector only its
    # combiner fit and face-video only its self-blend augmentation: their full runs are not tested.
    "train cascade-risk": ("tests/unit/graph/test_cascade_risk_card.py::test_retraining_rebuilds_the_committed_model",),
    "train text-detector": (
        "tests/unit/text/test_detector.py::test_combiner_is_calibrated_and_weighs_informative_logits",
    ),
    "train synthetic-image": ("tests/unit/media/test_synthetic_image.py::test_small_training_run_is_reproducible",),
    "train voice-clone": ("tests/unit/media/test_voice_clone.py::test_training_on_a_subset_is_reproducible",),
    "train face-video": (
        "tests/unit/media/test_face_video.py::test_self_blend_is_deterministic_and_keeps_the_mask_soft",
    ),
    "score text": (
        "tests/unit/text/test_detector.py::test_cli_score_text_jsonl_and_csv",
        "tests/unit/text/test_thresholds.py::test_cli_calibrate_text_then_score_at_those_thresholds",
    ),
    "calibrate text": ("tests/unit/text/test_thresholds.py::test_cli_calibrate_text_then_score_at_those_thresholds",),
    "score media": ("tests/e2e/test_media_cli.py::test_score_media_lines",),
    "top FIELD": ("test_demo_summary_and_try_next", "test_search_and_top_field"),
    "top narratives": (
        "test_top_narratives_and_accounts",
        "tests/integration/stages/test_text_narratives.py::test_narratives_on_the_stream",
    ),
    "top accounts": ("test_top_narratives_and_accounts",),
    "bank add": ("test_bank_push", "tests/e2e/test_media_cli.py::test_bank_add_then_match"),
    "bank push": ("test_bank_push",),
    "watchlist add": ("tests/integration/cli/test_alerts_cli.py::test_watchlist_commands",),
    "watchlist list": ("tests/integration/cli/test_alerts_cli.py::test_watchlist_commands",),
    "watchlist remove": ("tests/integration/cli/test_alerts_cli.py::test_watchlist_commands",),
    "alerts list": ("tests/integration/cli/test_alerts_cli.py::test_alert_commands",),
    "alerts ack": ("tests/integration/cli/test_alerts_cli.py::test_alert_commands",),
    "alerts resolve": ("tests/integration/cli/test_alerts_cli.py::test_alert_commands",),
    "alerts check-config": ("tests/integration/cli/test_alerts_cli.py::test_check_config",),
    "alerts sweep": ("test_alerts_sweep",),
    # No Kibana or OpenSearch Dashboards here: against a stand-in import API on 127.0.0.1.
    "dashboards install": (
        "tests/unit/cli/test_dashboards.py::test_install_into_kibana_posts_the_objects_for_the_prefix",
        "tests/unit/cli/test_dashboards.py::test_install_into_opensearch_dashboards",
        "tests/unit/cli/test_dashboards.py::test_install_into_a_kibana_space",
    ),
    "dashboards export": ("tests/unit/cli/test_dashboards.py::test_export_writes_the_objects_for_the_prefix",),
    # Live collection, against local servers speaking each platform's protocol with its recorded payloads.
    "collect reddit": (
        "tests/unit/cli/test_collect_reddit_mastodon.py::test_collect_reddit_listing",
        "tests/unit/cli/test_collect_reddit_mastodon.py::test_collect_reddit_thread_and_comment_stream",
        "tests/unit/cli/test_stream_restarts_reddit_mastodon.py::test_the_reddit_comment_stream_killed_and_restarted",
    ),
    "collect mastodon": (
        "tests/unit/cli/test_collect_reddit_mastodon.py::test_collect_mastodon_public",
        "tests/unit/cli/test_collect_reddit_mastodon.py::test_collect_mastodon_tag",
        "tests/unit/cli/test_collect_reddit_mastodon.py::test_collect_mastodon_trends",
        "tests/unit/cli/test_stream_restarts_reddit_mastodon.py::test_the_mastodon_stream_killed_and_restarted",
    ),
    "collect bluesky": (
        "tests/unit/adapters/connectors/test_bluesky_jetstream.py::test_cli_small_limit",
        "tests/unit/adapters/connectors/test_bluesky_jetstream.py::test_cli_killed_mid_stream_resumes_without_gap_or_duplicate",
        "tests/integration/collect/test_stream_worker_restart.py::test_killed_stream_worker_resumes_from_its_kafka_cursor",
        "tests/unit/adapters/connectors/test_bluesky_appview.py::test_cli_feed_and_search_commands",
    ),
    "collect rss": (
        "tests/unit/adapters/connectors/test_rss_connector.py::test_cli_contract_command",
        "tests/unit/adapters/connectors/test_rss_connector.py::test_cli_with_cursors_appends_only_new_articles",
    ),
    "collect video": (
        "tests/unit/adapters/connectors/test_video_connector.py::test_cli_contract_command_on_a_page_of_videos",
        "tests/unit/adapters/connectors/test_video_connector.py::test_cli_contract_command_on_a_feed_of_videos",
    ),
    "collect check": ("tests/unit/cli/test_collect_cli.py::test_check_lists_every_run_of_the_example",),
    "token create": ("tests/unit/api/test_access.py::test_token_create_prints_a_token_the_server_accepts",),
    "token list": ("tests/unit/api/test_access.py::test_token_create_prints_a_token_the_server_accepts",),
    "token revoke": ("tests/unit/api/test_access.py::test_token_create_prints_a_token_the_server_accepts",),
    **{
        f"plot {what}": (
            "tests/integration/api/test_api_on_the_store.py::test_narratives_clusters_and_plot_commands_on_the_store",
        )
        for what in ("spread", "narrative", "cluster")
    },
    **{
        f"export {what}": (
            "tests/integration/api/test_api_on_the_store.py::test_narratives_clusters_and_plot_commands_on_the_store",
        )
        for what in ("posts", "cascade", "cluster")
    },
    **{
        f"case {what}": (
            "tests/integration/api/test_api_on_the_store.py::test_narratives_clusters_and_plot_commands_on_the_store",
        )
        for what in ("create", "add", "note", "show", "list", "export", "verify")
    },
    **{
        f"query {what}": (
            "tests/integration/api/test_api_on_the_store.py::test_narratives_clusters_and_plot_commands_on_the_store",
        )
        for what in ("posts", "spread", "narrative", "cluster", "account")
    },
    "serve": (
        "tests/unit/api/test_access.py::test_serve_answers_401_without_a_token_and_503_when_the_store_is_down",
        "tests/integration/api/test_api_on_the_store.py::test_the_readme_block",
    ),
    "collect run": (
        "tests/unit/cli/test_collect_cli.py::test_run_pulls_every_target_of_the_file_once_and_resumes",
        "tests/integration/collect/test_collect_to_store.py::test_collect_run_into_kafka",
    ),
    "collect trending": ("tests/integration/collect/test_collect_to_store.py::test_collect_trending_command",),
    "collect growth": (
        "tests/integration/collect/test_collect_to_store.py::"
        "test_a_killed_collector_resumes_without_gap_and_the_store_holds_each_post_once",
    ),
}

# The README's shell blocks (comments stripped) → the test that runs them.
SHELL_COVERAGE: dict[str, str] = {
    "make demo": "test_make_targets",
    "make test": "test_make_targets",
    "export AIRFLOW_HOME=$PWD/.flockwatch/airflow AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags "
    "AIRFLOW__CORE__LOAD_EXAMPLES=False": "test_airflow_standalone",
    ".venv/bin/airflow standalone": "test_airflow_standalone",
    # `make test`'s Elasticsearch pass runs the README demo with FLOCKWATCH_STORE_ENGINE=elasticsearch (on port
    # 9201); `make test-elasticsearch` runs the longer demo test there too.
    "FLOCKWATCH_STORE_ENGINE=elasticsearch flockwatch demo": "test_demo_summary_and_try_next",
    "curl -sI 127.0.0.1:9200": "test_store_answers_as_its_engine",
    # No Elastic Cloud here: what these settings make of the client is checked without one.
    "export FLOCKWATCH_STORE_ENGINE=elasticsearch": "tests/unit/adapters/test_client_security.py::"
    "test_an_existing_cluster_by_address_or_elastic_cloud_id",
    "export FLOCKWATCH_STORE_CLOUD_ID='monitoring:ZXUtd2VzdC0xLmF3cy5mb3VuZC5pbyRhYmMkZGVm'": "tests/unit/adapters/"
    "test_client_security.py::test_an_existing_cluster_by_address_or_elastic_cloud_id",
    "export FLOCKWATCH_STORE_API_KEY='<base64 id:key from Kibana → Stack Management → API keys>'": "tests/unit/"
    "adapters/test_client_security.py::test_api_key_header_and_no_mixing",
    "flockwatch worker index": "tests/e2e/test_first_contact.py::"
    "test_worker_started_before_the_store_waits_then_indexes",
    # The API block: started, a token made, a search asked, as tests/integration/api does on the real store.
    "flockwatch serve &": "tests/integration/api/test_api_on_the_store.py::test_the_readme_block",
    "sleep 5": "tests/integration/api/test_api_on_the_store.py::test_the_readme_block",
    'TOKEN=$(flockwatch token create --role analyst --name "Ana Lyst")': "tests/integration/api/"
    "test_api_on_the_store.py::test_the_readme_block",
    "curl -s -H \"Authorization: Bearer $TOKEN\" 'http://127.0.0.1:8000/api/v1/posts?q=ballots&limit=5'": "tests/"
    "integration/api/test_api_on_the_store.py::test_the_readme_block",
}


# --- the command tree and README.md ------------------------------------------------------------------------


@functools.cache
def root_command() -> TyperGroup:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return root


def command_paths(cmd: click.Command | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, bool]]:
    """(path, is_group) of every command and group below `flockwatch`, the root first."""
    cmd = cmd or root_command()
    yield " ".join(path), isinstance(cmd, TyperGroup)
    if isinstance(cmd, TyperGroup):
        for name, sub in cmd.commands.items():
            yield from command_paths(sub, (*path, name))


def command_at(path: str) -> click.Command:
    cmd: click.Command = root_command()
    for word in path.split():
        assert isinstance(cmd, TyperGroup)
        cmd = cmd.commands[word]
    return cmd


def resolve(words: list[str]) -> list[str]:
    """The command paths a README command names; `a|b` and `...` expand. Raises on an unknown command."""
    paths: list[str] = []
    stack: list[tuple[click.Command, list[str], list[str]]] = [(root_command(), [], words)]
    while stack:
        cmd, path, rest = stack.pop()
        if not isinstance(cmd, TyperGroup) or not rest or rest[0].startswith("-"):
            if isinstance(cmd, TyperGroup) and "--help" not in rest:
                raise LookupError(f"`flockwatch {' '.join(path)}` alone is a group, not a command")
            paths.append(" ".join(path))
            continue
        names = list(cmd.commands) if rest[0] == "..." else rest[0].split("|")  # `worker ...`: each of them
        for name in names:
            if name in cmd.commands:
                stack.append((cmd.commands[name], [*path, name], rest[1:]))
            elif isinstance(cmd, TopGroup):  # any other name is a field: `top hashtags`
                stack.append((cmd.commands[FIELD_COMMAND], [*path, FIELD_COMMAND], rest[1:]))
            else:
                raise LookupError(f"flockwatch has no command {' '.join([*path, name])!r}")
    return paths


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """(`flockwatch ...` commands, other shell lines) shown in README.md."""
    shell: list[str] = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        if lang in ("bash", "sh", "shell", "console"):
            shell += [c for line in body.splitlines() if (c := re.sub(r"\s+#.*$", "", line).strip())]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    commands: list[str] = []
    for line in prose.splitlines():
        cells = re.split(r"(?<!\\)\|", line)
        if line.startswith("|") and len(cells) > 2:
            # A table's first cell: `flockwatch a b` / `c` / `d` means flockwatch a c, flockwatch a d
            # (or flockwatch c when c is a top-level command, as in `worker media`).
            parent: list[str] = []
            for span in re.findall(r"`([^`]+)`", cells[1]):
                words = span.replace("\\|", "|").split()
                if words[0] != "flockwatch":
                    top_level = words[0] in root_command().commands
                    words = ["flockwatch", *words] if top_level else ["flockwatch", *parent, *words]
                commands.append(" ".join(words))
                parent = [w for w in words[1:] if w in root_command().commands][:1]
            line = "|".join(cells[2:])
        commands += [s.replace("\\|", "|") for s in re.findall(r"`(flockwatch(?: [^`]*)?)`", line)]
    return commands, shell


def test_finds_the_readme_commands() -> None:
    """The extraction itself, on a README-shaped sample (so a parsing slip cannot hide a command)."""
    sample = (
        "Run `flockwatch status` first.\n\n```bash\nmake demo   # all of it\n```\n\n"
        "| command | what |\n|---|---|\n"
        "| `flockwatch worker text` / `worker media` | x `flockwatch top --help` |\n"
        "| `flockwatch train a` / `b` | y |\n| `flockwatch alerts list\\|ack` | z |\n"
    )
    commands, shell = readme_commands(sample)
    assert shell == ["make demo"]
    assert commands == [
        "flockwatch status",
        "flockwatch worker text",
        "flockwatch worker media",
        "flockwatch top --help",
        "flockwatch train a",
        "flockwatch train b",
        "flockwatch alerts list|ack",
    ]
    assert sorted(resolve(["alerts", "list|ack"])) == ["alerts ack", "alerts list"]
    assert len(resolve(["worker", "..."])) == 7
    assert resolve(["top", "hashtags", "-n", "3"]) == ["top FIELD"]
    with pytest.raises(LookupError):
        resolve(["worker", "nothing"])


def test_every_command_has_a_test() -> None:
    leaves = {path for path, group in command_paths() if not group}
    assert leaves | {""} == set(COVERAGE), "add the new command to COVERAGE with the test that runs it"
    refs = [(command, ref) for command, tests in COVERAGE.items() for ref in tests]
    for command, ref in [*refs, *SHELL_COVERAGE.items()]:
        file, _, name = ref.rpartition("::")
        source = REPO / (file or HERE)
        names = {n.name for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.FunctionDef)}
        assert name in names, f"{command!r}: {ref} does not exist"


def test_every_readme_command_is_covered() -> None:
    commands, shell = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 30 and shell, "README.md lost its command tables?"
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "flockwatch", command
        for path in resolve(words[1:]):
            assert path in COVERAGE or "--help" in words, f"README shows `{command}`: no test covers {path!r}"
            cmd = command_at(path)
            known = {"--help"} | {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
            for word in words:
                option = word.strip("[]").partition("=")[0]
                assert not option.startswith("--") or option in known, f"README: `{command}` has no {option}"
    assert set(shell) == set(SHELL_COVERAGE), "a README shell line has no test (SHELL_COVERAGE)"


# --- help pages ------------------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("path", [p for p, _ in command_paths()])
def test_help_pages(path: str) -> None:
    """`flockwatch PATH --help`: the usage line, the command's own description, every option and argument."""
    words = path.split()
    cmd = command_at(path)
    result = CliRunner().invoke(
        app, [*words, "--help"], prog_name="flockwatch", env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"}
    )
    assert result.exit_code == 0, result.output
    out = _squash(result.output)
    assert f"Usage: flockwatch {path}".replace("  ", " ").strip() in out
    first = _squash((cmd.help or "").split("\n\n")[0])
    assert first and first in out, (first, out)
    for param in cmd.params:
        if isinstance(param, TyperOption):
            assert all(opt in out for opt in param.opts), (param.opts, out)
        else:
            shown = getattr(param, "help", None) or param.name or ""  # an argument: its help, else its name
            assert _squash(shown) in out, (param.name, out)
    if isinstance(cmd, TyperGroup):  # each subcommand listed with its summary
        for name, sub in cmd.commands.items():
            assert name in out and _squash(sub.get_short_help_str(60)).rstrip(".")[:30] in out, name


def test_top_forms_help() -> None:
    """`top FIELD` sits beside `top narratives` and `top accounts`; each form's help is its own."""
    runner = CliRunner()
    forms = {
        ("top", "hashtags"): ("Usage: flockwatch top hashtags [OPTIONS]", "--size"),
        ("top", "author.handle"): ("Usage: flockwatch top author.handle [OPTIONS]", "--size"),
        ("top", "narratives"): ("Usage: flockwatch top narratives [OPTIONS]", "--min-posts"),
        ("top", "accounts"): ("Usage: flockwatch top accounts [OPTIONS]", "--min-scored"),
        ("top",): ("Usage: flockwatch top [OPTIONS] FIELD|narratives|accounts", "FIELD"),
    }
    for args, wanted in forms.items():
        result = runner.invoke(app, [*args, "--help"], prog_name="flockwatch")
        assert result.exit_code == 0 and all(w in _squash(result.output) for w in wanted), (args, result.output)


# --- shell lines: make, Airflow ----------------------------------------------------------------------------


def _make_dry_run(target: str) -> list[str]:
    """The recipe lines ``make -n target`` prints, as a top-level make would (CI runs this test under ``make``)."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}
    cmd = ["make", "--no-print-directory", "-n", target]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout.splitlines()


def test_make_targets() -> None:
    """`make demo` runs `flockwatch demo`; `make test` runs lint, then unit, integration and e2e tests less the `long`
    ones (`make test-long`), then the store's tests on Elasticsearch less the long ones, which `make test-elasticsearch`
    runs too (dry runs)."""
    assert _make_dry_run("demo")[-1] == ".venv/bin/flockwatch demo"
    # The audit's verdicts are tested in tests/unit/infra/test_dependency_audit.py.
    assert _make_dry_run("audit")[-1] == ".venv/bin/python infra/dependency_audit.py"
    lines = _make_dry_run("test")
    order = [
        ".venv/bin/ruff check services dags tests bench infra",
        ".venv/bin/ruff format --check services dags tests bench infra",
        ".venv/bin/mypy",
        # Debian's chromium for the dashboard's browser tests, installed when missing.
        "command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        "chromium)",
        ".venv/bin/flockwatch up",
        '.venv/bin/pytest -q -p no:cacheprovider -n 2 --durations=15 -m "not long" tests/unit',
        # Two at a time, a file per process; then those that stop, restart or freeze the shared services, alone.
        ".venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=30 "
        '-m "not long and not exclusive" tests/integration tests/e2e',
        ".venv/bin/pytest -q -p no:cacheprovider --durations=10 "
        '-m "not long and exclusive" tests/integration tests/e2e',
    ]
    assert [line for line in lines if line in order] == order
    # ...then the store's tests again on Elasticsearch (its own port), the same way, and it stops the node afterwards.
    es = "FLOCKWATCH_STORE_ENGINE=elasticsearch FLOCKWATCH_STORE_PORT=9201 FLOCKWATCH_STORE_TRANSPORT_PORT=9301 "
    pytest = es + ".venv/bin/pytest -q -p no:cacheprovider "

    def on_es(marks: str) -> list[str]:
        return [
            es + ".venv/bin/flockwatch up",
            pytest
            + f'-n 2 --dist loadfile --durations=15 -m "({marks}) and not exclusive" tests/integration tests/e2e',
            pytest + f'--durations=10 -m "({marks}) and exclusive" tests/integration tests/e2e',
            es + ".venv/bin/flockwatch down elasticsearch",
        ]

    assert _make_dry_run("test-elasticsearch")[-4:] == on_es("store")
    assert lines[-4:] == on_es("store and not store_long and not long")
    # What `make test` leaves out (marker `long`), on its own.
    assert _make_dry_run("test-long")[-2:] == [
        ".venv/bin/flockwatch up",
        ".venv/bin/pytest -q -p no:cacheprovider --durations=20 -m long tests/unit tests/integration tests/e2e",
    ]
    # The cluster tests at full size (their short versions are in `make test`'s tests/integration).
    assert _make_dry_run("test-cluster")[-2:] == [
        ".venv/bin/flockwatch up",
        "FLOCKWATCH_CLUSTER_TESTS=full .venv/bin/pytest -q -p no:cacheprovider --durations=10 "
        "tests/integration/cluster",
    ]


def test_airflow_standalone(tmp_path: Path) -> None:
    """The README's Airflow lines: its environment, and `airflow standalone` exists (its server is not started)."""
    _, shell = readme_commands(README.read_text(encoding="utf-8"))
    export = next(line for line in shell if line.startswith("export AIRFLOW"))
    env = dict(os.environ)
    for assignment in shlex.split(export)[1:]:
        name, _, value = assignment.partition("=")
        env[name] = value.replace("$PWD", str(REPO))
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) == REPO / "dags"
    env["AIRFLOW_HOME"] = str(tmp_path)  # not the checkout's own Airflow home
    airflow = next(line for line in shell if "airflow standalone" in line).split()
    done = subprocess.run(
        [str(REPO / airflow[0]), *airflow[1:], "--help"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "standalone" in done.stdout and "Run an all-in-one copy of Airflow" in done.stdout


# --- services ------------------------------------------------------------------------------------------------


def flockwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 300, code: int = 0) -> str:
    done = subprocess.run([FLOCKWATCH, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


@pytest.fixture(scope="module")
def services() -> None:
    settings = Settings()
    report = local_services.up(settings, list(local_services.default_services(settings)))
    assert all(s["healthy"] for s in report.values()), report


def test_up_and_status(services: None) -> None:
    up = json.loads(flockwatch("up", "kafka", "opensearch"))  # already running: nothing started twice
    settings = Settings()
    assert up["kafka"]["healthy"] and up["kafka"]["port"] == settings.kafka_port
    assert up["opensearch"]["healthy"] and up["opensearch"]["url"] == settings.store_url
    status = json.loads(flockwatch("status"))
    assert {name: s["pid"] for name, s in status.items()} == {name: s["pid"] for name, s in up.items()}


def test_down_and_purge_in_a_scratch_state_dir(tmp_path: Path) -> None:
    """`down` / `down --purge` against a state dir of its own (the shared services stay up)."""
    env = {**os.environ, "FLOCKWATCH_STATE_DIR": str(tmp_path)}
    for name in local_services.SERVICES:
        (tmp_path / name / "data").mkdir(parents=True)
    stopped = json.loads(flockwatch("down", env=env))
    assert set(stopped) == set(local_services.SERVICES)
    assert all(s["running"] is False and "purged" not in s for s in stopped.values())
    assert (tmp_path / "kafka" / "data").is_dir()
    purged = json.loads(flockwatch("down", "opensearch", "--purge", env=env))
    assert list(purged) == ["opensearch"] and purged["opensearch"]["purged"] is True
    assert not (tmp_path / "opensearch").exists() and (tmp_path / "kafka").exists()


# --- expectations, computed in-process --------------------------------------------------------------------


def posts_of(*sources: tuple[str, Path | None, int]) -> dict[str, Post]:
    """What the store must hold after replaying these (format, path, limit): one post per key."""
    posts: dict[str, Post] = {}
    for fmt, path, limit in sources:
        for raw in itertools.islice(read_dataset(fmt, path, Settings().data_dir), limit):
            if (post := normalize_record(raw)) is not None:
                posts[post.key] = post
    return posts


def top_values(posts: dict[str, Post], field: str, size: int = 10) -> list[tuple[int, str]]:
    """Documents per value, as the store's terms aggregation: largest first, ties by value."""
    counts: Counter[str] = Counter()
    for post in posts.values():
        if field == "hashtags":
            counts.update({h.lower() for h in post.hashtags})
        elif field == "author.category" and post.author.category:
            counts[post.author.category] += 1
        elif field == "author.handle" and post.author.handle:
            counts[post.author.handle.lower()] += 1
    return [(n, v) for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def tokens(text: str) -> set[str]:
    """The standard analyzer's tokens, closely enough for whole words (letters joined by ' . :)."""
    return set(re.findall(r"\w+(?:[':.’]\w+)*", text.lower()))


def top_lines(out: str) -> list[tuple[int, str]]:
    return [(int(n), v) for n, v in (line.split("\t") for line in out.splitlines())]


# --- `flockwatch demo` and its "Try next" lines ------------------------------------------------------------


@dataclass
class DemoRun:
    settings: Settings
    rows: dict[str, str]
    try_next: list[str]
    posts: dict[str, Post]
    api: list[str]  # the closing lines: the API's URL, a token, a curl to try
    env: dict[str, str]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_run(services: None) -> Iterator[DemoRun]:
    with scratch_namespace("e2e") as settings:
        # The state directory stays the default one: the demo finds the running services through it.
        env = namespace_env(settings, {"FLOCKWATCH_API_PORT": str(_free_port())})
        out = flockwatch("demo", "--limit", str(N), "--fresh", env=env, timeout=600)
        out, _, api = out.partition("Query API")
        table, _, tail = out.partition("Try next:")
        rows: dict[str, str] = {}
        key = ""
        for line in table.splitlines():
            cells = [c.strip() for c in line.split("│")]
            if len(cells) == 4:  # │ name │ value │; a wrapped value goes on in the next row, without a name
                key = cells[1] or key
                rows[key] = f"{rows[key]} {cells[2]}" if not cells[1] else cells[2]
        yield DemoRun(
            settings,
            rows,
            [q.strip() for q in tail.splitlines() if q.strip()],
            posts_of(("ira_2016", None, N)),
            ["Query API" + api.splitlines()[0], *(line.strip() for line in api.splitlines()[1:] if line.strip())],
            env,
        )


@pytest.mark.store
def test_demo_summary_and_try_next(demo_run: DemoRun) -> None:
    posts, rows, settings = demo_run.posts, demo_run.rows, demo_run.settings
    assert rows["posts read"] == rows["posts produced"] == str(N)
    assert rows["indexed in store"] == rows["stored text scored posts"] == str(len(posts))
    for field in ("hashtags", "author.category", "author.handle"):
        assert rows[f"top {field}"] == ", ".join(f"{v} ({n:,})" for n, v in top_values(posts, field, 5))
    assert len(demo_run.try_next) >= 4
    env = namespace_env(settings)
    for line in demo_run.try_next:  # each printed command, run as printed
        words = shlex.split(line)
        if words[:2] == ["flockwatch", "search"]:
            query, size = words[2], int(words[words.index("--size") + 1]) if "--size" in words else 10
            found = [json.loads(doc) for doc in flockwatch(*words[1:], env=env).splitlines()]
            want = [p for p in posts.values() if matches(p, query)]
            assert len(found) == min(size, len(want)), line
            assert {d["key"] for d in found} <= {p.key for p in want}, line
        elif words[:2] == ["flockwatch", "top"] and len(words) == 3:
            assert top_lines(flockwatch(*words[1:], env=env)) == top_values(posts, words[2]), line
        elif words[0] == "curl":
            reply = json.loads(subprocess.run(words, capture_output=True, text=True, check=True, timeout=60).stdout)
            url = words[-1]
            assert f"/{settings.index_prefix}-posts/" in url
            if "/_count" in url:
                assert reply["count"] == len(posts), line
            else:
                tag = re.search(r"q=hashtags:([^&]+)", url)
                assert tag, line
                tagged = [p for p in posts.values() if tag[1] in {h.lower() for h in p.hashtags}]
                assert reply["hits"]["total"]["value"] == len(tagged) > 0, line
                assert all(tag[1] in [h.lower() for h in h_["_source"]["hashtags"]] for h_ in reply["hits"]["hits"])
        else:
            pytest.fail(f"the demo prints `{line}` and no check here runs it")


@pytest.mark.store
def test_the_demo_ends_with_the_api_and_a_token_that_works(demo_run: DemoRun) -> None:
    """The demo's closing lines, followed as a user would: `flockwatch serve`, then the printed curl."""
    url_line, dashboard_line, token_line, curl_line = demo_run.api
    port = demo_run.env["FLOCKWATCH_API_PORT"]
    assert url_line.endswith(f"http://127.0.0.1:{port}/api/v1/") and token_line.startswith("analyst token: fw_")
    assert dashboard_line == f"dashboard: http://127.0.0.1:{port}/ (sign in with this token)"
    server = subprocess.Popen([FLOCKWATCH, "serve"], env=demo_run.env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            answer = subprocess.run([*shlex.split(curl_line), "-s", "-f"], capture_output=True, text=True, timeout=30)
            if answer.returncode != 7:  # 7: the server is not listening yet
                break
            time.sleep(0.2)
        assert answer.returncode == 0, answer.stderr
        page = json.loads(answer.stdout)
        assert len(page["items"]) == 5 and {p["key"] for p in page["items"]} <= set(demo_run.posts)
    finally:
        server.terminate()
        server.wait(timeout=30)


def matches(post: Post, query: str) -> bool:
    """The demo's query strings (`field:value` terms joined by AND), evaluated on a post."""
    for term in query.split(" AND "):
        field, _, value = term.partition(":")
        if field == "hashtags":
            ok = value.lower() in {h.lower() for h in post.hashtags}
        elif field == "author.category":
            ok = post.author.category == value
        elif field == "text":
            ok = value.lower() in tokens(post.text)
        else:
            raise AssertionError(f"no in-process evaluation of {field!r} yet")
        if not ok:
            return False
    return True


# --- replay, workers, and the store commands on what they wrote ---------------------------------------------


@dataclass
class PipelineRun:
    settings: Settings
    env: dict[str, str]
    replays: list[dict[str, Any]]
    workers: dict[str, dict[str, Any]]
    posts: dict[str, Post]
    bad: bytes


WORKERS = ("normalize", "text", "media", "index", "rollups", "graph", "alerts")
SPEED_ROWS = 20


@pytest.fixture(scope="module")
def pipeline(services: None) -> Iterator[PipelineRun]:
    from flockwatch.adapters.kafka_bus import make_producer
    from flockwatch.cli.demo import wait_for_stages
    from flockwatch.topics import Topic, topic_name

    ira = Settings().data_dir / str(get_format("ira_2016").default_path)
    with scratch_namespace("e2e") as settings:
        env = namespace_env(settings)
        replays = [
            json.loads(flockwatch("replay", "ira_2016", "--limit", str(N), "--rate", "5000", env=env)),
            # The same first rows again, the format recognised from the file, paced by their timestamps.
            json.loads(
                flockwatch("replay", "auto", "--path", str(ira), "--limit", str(SPEED_ROWS), "--speed", "1e6", env=env)
            ),
        ]
        bad = b'{"kind": "raw", "format": "ira_2016", "payload": "not an object"}'
        producer = make_producer(settings)
        producer.send(topic_name(settings.topic_prefix, Topic.raw), key=b"bad", value=bad)
        producer.flush()
        producer.close()
        procs = {
            name: subprocess.Popen(
                [FLOCKWATCH, "worker", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for name in WORKERS
        }
        try:
            caught_up = wait_for_stages(settings, timeout_s=300, stages=WORKERS)
        finally:
            outputs = {}
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for name, proc in procs.items():
                stdout, stderr = proc.communicate(timeout=120)
                assert proc.returncode == 0, (name, stderr[-3000:])
                outputs[name] = json.loads(stdout[stdout.rindex("\n{") if "\n{" in stdout else 0 :])  # last JSON
        assert caught_up, "workers did not catch up within 5 minutes"
        open_store(settings).engine.refresh()
        yield PipelineRun(settings, env, replays, outputs, posts_of(("ira_2016", None, N)), bad)


def test_replay_and_workers(pipeline: PipelineRun) -> None:
    by_name, by_path = pipeline.replays
    assert by_name["format"] == "ira_2016" and by_name["read"] == by_name["produced"] == N and not by_name["errors"]
    assert by_path["format"] == "ira_2016" and by_path["read"] == by_path["produced"] == SPEED_ROWS
    w = pipeline.workers
    assert {name: out["stage"] for name, out in w.items()} == {name: name for name in WORKERS}
    posts, messages = len(pipeline.posts), N + SPEED_ROWS
    assert posts == N  # the first rows are distinct posts; the second replay repeats some of them
    authors = {f"{p.platform}:{p.author.id}" for p in pipeline.posts.values()}
    assert (w["normalize"]["consumed"], w["normalize"]["normalized"], w["normalize"]["dead_lettered"]) == (
        messages + 1,
        messages,
        1,
    )
    assert w["text"]["consumed"] == w["text"]["text_scored"] == messages
    assert w["text"]["text_human"] + w["text"]["text_machine"] + w["text"]["text_unscored"] == messages
    assert w["media"]["consumed"] == messages  # IRA 2016 rows carry no media
    assert w["index"]["indexed"] == w["index"]["consumed"] == 2 * messages  # each post and its text score
    assert w["rollups"]["consumed"] == messages and w["rollups"]["accounts_updated"] >= len(authors)
    # Graph and rollups write an account each batch it changes, so how often depends on how the posts fell into
    # batches (the text stage's ordered merge releases its partitions in parts); that every author got exactly one
    # account document is checked in the store below. The graph counts a batch's distinct posts, so a repeat that
    # lands in another batch than its first copy counts again: every post once at least, no message twice.
    assert posts <= w["graph"]["posts"] <= messages and w["graph"]["accounts_written"] >= len(authors)
    assert (w["alerts"]["posts"], w["alerts"]["duplicate_posts"]) == (posts, messages - posts)
    store = open_store(pipeline.settings)
    assert store.engine.count(IndexKind.posts) == posts  # replayed twice, stored once
    assert store.engine.count(IndexKind.posts, {"exists": {"field": "text_score.label"}}) == posts
    assert store.engine.count(IndexKind.accounts) == len(authors)


@pytest.mark.store
def test_search_and_top_field(pipeline: PipelineRun) -> None:
    posts, env = pipeline.posts, pipeline.env
    for field in ("hashtags", "author.category", "author.handle"):
        assert top_lines(flockwatch("top", field, env=env)) == top_values(posts, field), field
    assert top_lines(flockwatch("top", "hashtags", "--size", "3", env=env)) == top_values(posts, "hashtags", 3)
    assert top_lines(flockwatch("top", "hashtags", "-n", "2", env=env)) == top_values(posts, "hashtags", 2)
    (n, tag), *_ = top_values(posts, "hashtags")
    found = [json.loads(line) for line in flockwatch("search", f"hashtags:{tag}", "--size", "50", env=env).splitlines()]
    assert sorted(d["key"] for d in found) == sorted(p.key for p in posts.values() if matches(p, f"hashtags:{tag}"))
    assert len(found) == n
    dates = [d["created_at"] for d in found]
    assert dates == sorted(dates, reverse=True)  # newest first, as its help says
    assert (
        "replace FIELD" in subprocess.run([FLOCKWATCH, "top", "FIELD"], env=env, capture_output=True, text=True).stderr
    )


def test_top_narratives_and_accounts(pipeline: PipelineRun) -> None:
    env, store = pipeline.env, open_store(pipeline.settings)
    narratives = [
        json.loads(line) for line in flockwatch("top", "narratives", "--json", "-n", "50", env=env).splitlines()
    ]
    stored = store.engine.count(IndexKind.narratives, {"range": {"post_count": {"gte": 2}}})
    assert len(narratives) == min(50, stored) > 0
    counts = [d["post_count"] for d in narratives]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 2 and sum(counts) <= len(pipeline.posts)
    table = flockwatch("top", "narratives", "--size", "3", env=env).splitlines()
    assert table[0].split() == ["narrative", "posts", "accts", "machine", "first", "seen", "last", "seen", "text"]
    assert [line.split()[0] for line in table[1:]] == [d["narrative_id"] for d in narratives[:3]]

    authors = {f"{p.platform}:{p.author.id}" for p in pipeline.posts.values()}
    per_author = Counter(f"{p.platform}:{p.author.id}" for p in pipeline.posts.values())
    accounts = [
        json.loads(line) for line in flockwatch("top", "accounts", "--min-scored", "0", "--json", env=env).splitlines()
    ]
    assert len(accounts) == min(20, store.engine.count(IndexKind.accounts)) > 0
    assert {a["key"] for a in accounts} <= authors
    assert all(a["machine_n_scored"] <= per_author[a["key"]] for a in accounts)
    scores = [a["machine_score"] for a in accounts if a.get("machine_score") is not None]
    assert scores == sorted(scores, reverse=True)
    _, most = per_author.most_common(1)[0]  # the busiest account's posts
    listed = flockwatch("top", "accounts", "--min-scored", str(most), env=env).splitlines()
    assert listed[0].split()[:6] == ["account", "score", "share", "scored", "recent", "label"]
    busy = store.engine.search(IndexKind.accounts, {"range": {"machine_n_scored": {"gte": most}}}, size=100)
    assert sorted(line.split()[0] for line in listed[1:]) == sorted(d["key"] for d in busy)
    assert {d["key"] for d in busy} <= {a for a, n in per_author.items() if n >= most} and busy


def test_dead_letters(pipeline: PipelineRun) -> None:
    (letter,) = [json.loads(line) for line in flockwatch("dead-letters", env=pipeline.env).splitlines()]
    assert letter["stage"] == "normalize" and letter["reason"] and "original_b64" not in letter
    assert letter["original_bytes"] == len(pipeline.bad)
    assert letter["source_topic"] == f"{pipeline.settings.topic_prefix}.posts.raw" and letter["source_offset"] >= 0
    (full,) = [
        json.loads(line) for line in flockwatch("dead-letters", "--with-original", env=pipeline.env).splitlines()
    ]

    assert base64.b64decode(full["original_b64"]) == pipeline.bad


def test_alerts_sweep(pipeline: PipelineRun) -> None:
    end = datetime(2016, 10, 1, 4, 0, 30, tzinfo=UTC)  # between posts: no boundary ties
    report = json.loads(
        flockwatch("alerts", "sweep", "--end", end.isoformat(), "--window", "2h", "--lookback", "1h", env=pipeline.env)
    )
    assert report["start"] == "2016-10-01T02:00:30+00:00" and report["end"] == end.isoformat()
    span = [p for p in pipeline.posts.values() if datetime(2016, 10, 1, 1, 0, 30, tzinfo=UTC) <= p.created_at < end]
    assert report["posts"] == len(span) > 0
    assert report["bursts"] == len(report["top_bursts"]) and report["deliveries_failed"] == 0


def test_bank_push(pipeline: PipelineRun, tmp_path: Path) -> None:
    image = Settings().data_dir / "media" / "images" / "pdq_variants" / "bridge-1-original.jpg"
    bank = tmp_path / "bank"
    assert json.loads(flockwatch("bank", "add", "--bank-dir", str(bank), str(image)).splitlines()[-1])["added"] == 1
    pushed = json.loads(flockwatch("bank", "push", "--bank-dir", str(bank), "--name", "e2e", env=pipeline.env))
    assert pushed == {"pushed": 1, "rejected": 0}
    store = open_store(pipeline.settings)
    store.engine.refresh(IndexKind.media_bank)
    assert store.engine.count(IndexKind.media_bank) == 1


@pytest.mark.store
def test_store_answers_as_its_engine() -> None:
    """The README's `curl -sI`: the running store says what it is (Elasticsearch in `make test-elasticsearch`)."""
    settings = Settings()
    done = subprocess.run(["curl", "-sI", settings.store_url], capture_output=True, text=True, timeout=30, check=True)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in done.stdout.splitlines())}
    assert done.stdout.startswith("HTTP/1.1 200")
    if settings.store_engine == "elasticsearch":
        assert headers["x-elastic-product"] == "Elasticsearch"
    else:
        assert "x-elastic-product" not in headers

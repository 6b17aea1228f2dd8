"""Nonsense settings stop the command with one clear line each, never a clamp or a cryptic error."""

import os

import pytest

from ai_assets.config import SettingsError, load_settings


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AI_ASSETS_LLM_CONCURRENCY": "0"}, "AI_ASSETS_LLM_CONCURRENCY='0' must be at least 1"),
        ({"AI_ASSETS_LLM_MAX_RETRIES": "-5"}, "AI_ASSETS_LLM_MAX_RETRIES='-5' must be at least 0"),
        ({"AI_ASSETS_LLM_TIMEOUT_S": "nan"}, "AI_ASSETS_LLM_TIMEOUT_S='nan' is not a number"),
        ({"AI_ASSETS_OUTBOX_BACKOFF_S": "inf"}, "AI_ASSETS_OUTBOX_BACKOFF_S='inf' is not a number"),
        ({"AI_ASSETS_EXECUTOR": "threads"}, "AI_ASSETS_EXECUTOR='threads' must be one of in_process, multiprocess"),
        ({"AI_ASSETS_MAX_INPUT_CHARS": "-1"}, "AI_ASSETS_MAX_INPUT_CHARS='-1' must be at least 100"),
        ({"AI_ASSETS_TRIAGE_BATCH_SIZE": "2.5"}, "AI_ASSETS_TRIAGE_BATCH_SIZE='2.5' must be a whole number"),
        ({"AI_ASSETS_REVIEW_MIN_CONFIDENCE": "5"}, "AI_ASSETS_REVIEW_MIN_CONFIDENCE='5' must be at most 1"),
        ({"AI_ASSETS_LLM_MAX_FAILURE_SHARE": "1.5"}, "AI_ASSETS_LLM_MAX_FAILURE_SHARE='1.5' must be at most 1"),
        ({"AI_ASSETS_LLM_RPM": "-5"}, "AI_ASSETS_LLM_RPM='-5' must be at least 0"),
        ({"OPENAI_BASE_URL": "localhost:8000/v1"}, "OPENAI_BASE_URL='localhost:8000/v1' is not an http(s) URL"),
        ({"AI_ASSETS_OUTBOX_WEBHOOK_URL": "ftp://x"}, "AI_ASSETS_OUTBOX_WEBHOOK_URL='ftp://x' is not an http(s) URL"),
        ({"AI_ASSETS_PARTITIONS_START": "yesterday"}, "AI_ASSETS_PARTITIONS_START='yesterday' is not a date"),
    ],
)
def test_a_nonsense_setting_is_named_with_what_to_give(environ, message):
    with pytest.raises(SettingsError, match="Invalid settings") as error:
        load_settings(environ)
    assert message in str(error.value)


def test_sensible_settings_pass():
    settings = load_settings(
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
            "AI_ASSETS_EMBED_BASE_URL": "embedded",
            "AI_ASSETS_LLM_MAX_FAILURE_SHARE": "0.2",
            "AI_ASSETS_OUTBOX_DEADLINE_S": "60",
        }
    )
    assert (settings.llm_max_failure_share, settings.outbox_deadline_s) == (0.2, 60.0)
    assert settings.embed_base_url == "embedded"


def test_a_dagster_home_the_user_set_is_honoured(tmp_path):
    assert load_settings({"AI_ASSETS_DATA_DIR": str(tmp_path)}).dagster_home == tmp_path / "dagster_home"
    mine = tmp_path / "my_home"
    assert load_settings({"AI_ASSETS_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(mine)}).dagster_home == mine


def test_ai_assets_dev_starts_dagster_with_the_dagster_home_set(tmp_path, monkeypatch, capsys):
    from ai_assets import cli

    mine = tmp_path / "my_home"
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(mine))
    started = []
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: started.append((path, argv, os.environ["DAGSTER_HOME"])))
    cli.main(["dev", "--port", "3001"])
    ((path, argv, home),) = started
    assert home == str(mine) and (mine / "dagster.yaml").exists()
    assert argv[1:2] == ["dev"] and "3001" in argv
    assert not (tmp_path / "data" / "dagster_home").exists()

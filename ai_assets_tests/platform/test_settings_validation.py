"""Nonsense settings stop the command with one clear line each, never a clamp or a cryptic error."""

import os

import pytest

from ai_assets.config import ProjectSettings, SettingsError, load_settings
from ai_assets.load.resources import OutboxResource
from ai_assets.resources import EmbeddingResource, LLMResource, SmallLLMResource, ToolsResource
from ai_assets.settings import env_name
from ai_assets.warehouse.resource import WarehouseResource


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
        ({"AI_ASSETS_SMALL_LLM": "small"}, "AI_ASSETS_SMALL_LLM='small' is not an http(s) URL; give e.g."),
        (
            {"AI_ASSETS_SMALL_LLM": "http://127.0.0.1:11434/v1"},
            "AI_ASSETS_SMALL_LLM='http://127.0.0.1:11434/v1' needs AI_ASSETS_SMALL_LLM_MODEL",
        ),
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
    assert (settings.llm.max_failure_share, settings.outbox.deadline_s) == (0.2, 60.0)
    assert settings.embeddings.use_embedded_model and not settings.llm.use_embedded_model


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


SETTINGS_OWNERS = (
    ProjectSettings,
    LLMResource,
    SmallLLMResource,
    EmbeddingResource,
    ToolsResource,
    OutboxResource,
    WarehouseResource,
)


def test_every_setting_names_its_variable_in_the_description_dagster_shows():
    variables = []
    for owner in SETTINGS_OWNERS:
        fields = owner.to_config_schema().as_field().config_type.fields if owner is not ProjectSettings else None
        for name in owner.model_fields:
            variable = env_name(owner, name)
            if variable is None:
                continue
            variables.append(variable)
            assert variable in owner.model_fields[name].description
            if fields is not None:  # the resource's page in the UI (Deployment > Resources)
                assert variable in fields[name].description
    assert len(variables) > 50


def test_a_resource_reads_only_its_own_settings_and_defaults_for_the_embedded_model(tmp_path):
    environ = {"AI_ASSETS_CHAT_MODEL": "qwen", "AI_ASSETS_TOOL_RETRIES": "7"}
    llm = LLMResource.from_env(environ, tmp_path)
    assert (llm.chat_model, llm.concurrency, llm.response_format, llm.use_embedded_model) == (
        "qwen",
        2,
        "json_object",
        True,
    )
    remote = LLMResource.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, tmp_path)
    assert (remote.chat_model, remote.concurrency, remote.redact_pii) == ("gpt-4o-mini", 16, True)
    assert ToolsResource.from_env(environ, tmp_path).retries == 7
    assert llm.cache_path == str(tmp_path / "llm_cache.sqlite")
    with pytest.raises(SettingsError, match="AI_ASSETS_TOOL_RETRIES='-1' must be at least 0"):
        ToolsResource.from_env({"AI_ASSETS_TOOL_RETRIES": "-1"}, tmp_path)


def test_the_small_model_takes_the_llm_resources_limits_with_its_own_endpoint_model_and_prices(tmp_path):
    environ = {
        "OPENAI_BASE_URL": "https://api.example.com/v1",
        "AI_ASSETS_LLM_MAX_TOKENS_PER_RUN": "5000",
        "AI_ASSETS_SMALL_LLM": "http://127.0.0.1:11434/v1",
        "AI_ASSETS_SMALL_LLM_MODEL": "qwen2.5:0.5b",
        "AI_ASSETS_SMALL_LLM_PRICE_INPUT_PER_1M": "0.02",
    }
    llm = LLMResource.from_env(environ, tmp_path)
    small = SmallLLMResource.from_env(environ).resource(llm)
    assert (small.base_url, small.chat_model, small.price_input_per_1m, small.price_output_per_1m) == (
        "http://127.0.0.1:11434/v1",
        "qwen2.5:0.5b",
        0.02,
        0.0,
    )
    assert (small.max_tokens_per_run, small.cache_path, small.redact_pii) == (5000, llm.cache_path, True)
    assert SmallLLMResource.from_env(environ).describe() == "qwen2.5:0.5b@http://127.0.0.1:11434/v1"
    # Unset, or the embedded model when it is already the llm resource's: no small model.
    assert SmallLLMResource.from_env({}).describe() == ""
    assert SmallLLMResource.from_env({"AI_ASSETS_SMALL_LLM": "embedded"}).describe() == ""
    embedded = SmallLLMResource.from_env({**environ, "AI_ASSETS_SMALL_LLM": "embedded"})
    assert embedded.describe() == "smollm2@embedded"


def test_ai_assets_dev_starts_the_partitions_at_the_first_landed_day(tmp_path, monkeypatch):
    from ai_assets import cli

    tickets = tmp_path / "data" / "landing" / "tickets"
    for day in ("2026-11-20", "2026-11-21"):
        (tickets / day).mkdir(parents=True)
        (tickets / day / "t.jsonl").write_text("{}\n")
    (tickets / "2026-11-19").mkdir()  # an empty folder is no day
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path / "data"))
    started = []
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: started.append(os.environ["AI_ASSETS_PARTITIONS_START"]))
    cli.main(["dev"])
    assert started == ["2026-11-20"]
    monkeypatch.setenv("AI_ASSETS_PARTITIONS_START", "2026-11-01")  # set by the user: kept
    cli.main(["dev"])
    assert started == ["2026-11-20", "2026-11-01"]

"""End to end on the real embedded model (SmolLM2-135M via llama.cpp), with no endpoint configured."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import openai
import pytest

from ai_assets.definitions import build_definitions
from ai_assets.resources import LLMResource, SmallLLMResource
from ai_assets_tests.conftest import DAY_1, configure_env

TICKETS = [
    ("E-1", "Charged twice", "I was charged twice for order ORD-1001. Please refund the extra payment."),
    ("E-2", "Parcel late", "My package has not arrived, tracking shows no update for a week."),
    ("E-3", "App crashes", "The app crashes every time I open settings on my phone."),
    ("E-4", "Love it", "Just wanted to say thanks, the headphones are great!"),
]


def _llama_servers() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "llama_cpp.server" in text:
            found.append(text)
    return found


@pytest.mark.embedded
def test_pipeline_runs_on_the_embedded_model(tmp_path, monkeypatch):
    # The LLM reply loop, not the templates `auto` gives this model: its schemas must compile to grammars.
    monkeypatch.setenv("AI_ASSETS_REPLY_DRAFTING", "llm")
    settings = configure_env(monkeypatch, tmp_path / "data", server=None)
    assert settings.llm.use_embedded_model
    day_dir = settings.landing_dir / "tickets" / DAY_1
    day_dir.mkdir(parents=True)
    lines = [
        {
            "ticket_id": tid,
            "customer_id": "C-00001",
            "created_at": f"{DAY_1}T10:00:0{i}Z",
            "channel": "email",
            "subject": s,
            "body": b,
        }
        for i, (tid, s, b) in enumerate(TICKETS)
    ]
    (day_dir / "tickets.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    before = len(_llama_servers())

    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_tickets_job").execute_in_process(instance=instance, partition_key=DAY_1)
    assert result.success

    with settings.warehouse.lake.connect(read_only=True) as conn:
        triaged = conn.execute("select ticket_id, category, model, prompt_version from ticket_triage").fetchall()
        failed = conn.execute("select ticket_id, reason from ticket_triage_failures").fetchall()
        drafted = conn.execute("select count(*) from reply_rounds where reply is not null").fetchone()[0]
        provider_errors = conn.execute("select error from reply_rounds where error like '%provider_error%'").fetchall()
    # A 135M model is often wrong, but every answer is schema-valid or dead-lettered with a reason.
    assert len(triaged) + len(failed) == len(TICKETS)
    assert len(triaged) >= 1
    assert {row[2] for row in triaged} == {"smollm2"}
    # The reply schemas compile to llama.cpp grammars (a long maxLength once crashed its server).
    assert drafted >= 1 and provider_errors == []
    assert len(_llama_servers()) == before, "the embedded model server outlived the run"


@pytest.mark.embedded
def test_the_embedded_small_model_starts_when_first_asked_and_stops_with_the_step(tmp_path, llm_server):
    llm = LLMResource.from_env({"OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test"}, tmp_path)
    small_llm = SmallLLMResource.from_env({"OPENAI_BASE_URL": llm_server.base_url, "AI_ASSETS_SMALL_LLM": "embedded"})
    before = len(_llama_servers())
    seen = {}

    @dg.asset
    def untouched(small_llm: SmallLLMResource) -> None:
        seen["untouched"] = len(_llama_servers())

    @dg.asset
    def asked(llm: LLMResource, small_llm: SmallLLMResource) -> None:
        small = small_llm.resource(llm)
        endpoint = small.endpoint()
        client = openai.OpenAI(base_url=endpoint.base_url, api_key="none")
        answer = client.chat.completions.create(
            model=endpoint.model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
        )
        seen["asked"] = (len(_llama_servers()), small.use_embedded_model, answer.model, small.redact_pii)

    resources = {"llm": llm, "small_llm": small_llm}
    assert dg.materialize([untouched], resources=resources).success
    assert seen["untouched"] == before  # not asked: not started
    assert dg.materialize([asked], resources=resources).success
    assert seen["asked"] == (before + 1, True, "smollm2", False)  # in-machine: nothing redacted
    assert len(_llama_servers()) == before, "the small model's server outlived the step"

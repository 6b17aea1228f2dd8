"""The settings of a deployment: the project's own (data directory, partitions, the triage and reply
knobs) and each resource's, read from the environment by their owners (see `settings.py`).

Secrets (OPENAI_API_KEY, the SMTP login, the ticketing token) are never read into a setting: the
`openai` client and the sinks read them from the environment, so they can't leak into logs, run
metadata or tables by way of config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from ai_assets.extract.remote_landing import Landing
from ai_assets.load.resources import OutboxResource
from ai_assets.quality.vocabulary import LABEL_FIELDS
from ai_assets.resources import EmbeddingResource, LLMResource, SmallLLMResource, ToolsResource, uses_embedded_model
from ai_assets.settings import SettingsError, embedded_given, environment, read_environment, setting, storage_url
from ai_assets.transform.language import DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, language_codes
from ai_assets.warehouse.resource import WarehouseResource

# Accuracy a triage must reach on the labelled tickets, per field: what a good hosted model reaches
# on hand-written tickets (urgency and sentiment are the fuzzy ones).
EVAL_TARGETS = {"category": 0.8, "urgency": 0.55, "sentiment": 0.65, "language": 0.9}
T = TypeVar("T")


class ProjectSettings(BaseModel):
    """The settings that are no resource's: where the data lives, the partitions, and the knobs of the
    triage, reply, review and evaluation steps."""

    model_config = ConfigDict(frozen=True, validate_default=True)
    # Where a variable does not say otherwise (see the two settings' comments).
    embedded_defaults: ClassVar[dict[str, Any]] = {"reply_max_refinements": 0, "cascade_target_accuracy": 0.0}

    data_dir: Path = setting("AI_ASSETS_DATA_DIR", Path("data"), "landing files, warehouse, caches and logs")
    # DAGSTER_HOME as the user set it (None: under the data directory, see `dagster_home`).
    dagster_home_set: Path | None = setting(
        "DAGSTER_HOME", None, "the Dagster instance; unset: <data dir>/dagster_home"
    )
    # `ai-assets` (demo, dev, backfill) sets it to the first day landed when unset (cli.partitions_from_the_data).
    partitions_start: str = setting("AI_ASSETS_PARTITIONS_START", "2026-11-01", "the first daily partition")
    backfill_days_per_run: int = setting("AI_ASSETS_BACKFILL_DAYS_PER_RUN", 5, "days a backfill run takes", ge=1)
    landing_url: str | None = setting(
        "AI_ASSETS_LANDING_URL", None, "landing folders in a bucket (s3://bucket/prefix); unset: <data dir>/landing"
    )
    # in_process: one process per run, the cheapest on a small machine; multiprocess: steps in parallel.
    executor: Literal["in_process", "multiprocess", "celery"] = setting(
        "AI_ASSETS_EXECUTOR", "in_process", "how steps run"
    )
    # Prompt files here replace the packaged ones of the same name (ai_assets/defs/<feature>/<name>.txt).
    prompts_dir: Path | None = setting("AI_ASSETS_PROMPTS_DIR", None, "a folder of prompts that replace ours")
    # One row per request by default: small local models answer batches badly.
    triage_batch_size: int = setting("AI_ASSETS_TRIAGE_BATCH_SIZE", 1, "tickets per triage request", ge=1)
    # A 135M local model rarely repairs a reply it got wrong, and each round costs it ~12 minutes a
    # day of tickets on 2 cores: it drafts and critiques once; real models get 2 refinements.
    reply_max_refinements: int = setting(
        "AI_ASSETS_REPLY_MAX_REFINEMENTS", 2, "critique-and-refine rounds of a reply (0 embedded)", ge=0
    )
    # auto: templates on the embedded model, whose drafts never pass the reply checks; the loop elsewhere.
    reply_drafting: Literal["auto", "llm", "template"] = setting(
        "AI_ASSETS_REPLY_DRAFTING", "auto", "who writes replies: the LLM loop (llm), a KB template (template), auto"
    )
    review_min_confidence: float = setting(
        "AI_ASSETS_REVIEW_MIN_CONFIDENCE", 0.6, "triage confidence below which a ticket goes to review", ge=0, le=1
    )
    eval_targets: dict[str, float] = setting(
        "AI_ASSETS_EVAL_TARGETS", EVAL_TARGETS, "accuracy per field the triage must reach, field=share,..."
    )
    # On: a triage below target (or not yet evaluated) fails its check with ERROR and stops ticket_triage.
    eval_blocking: bool = setting("AI_ASSETS_EVAL_BLOCKING", False, "on: stop a triage below target")
    # The triage cascade (transform/cascade.py): a proxy over ticket_labels answers the fields it is
    # sure of before the LLM; off, or with no labels, every field is the LLM's.
    cascade: bool = setting("AI_ASSETS_CASCADE", True, "on: a proxy answers the fields it is sure of")
    cascade_proxy: Literal["linear", "knn"] = setting("AI_ASSETS_CASCADE_PROXY", "linear", "the cascade's proxy")
    # 0 on the embedded model: the proxy's answers beat it on every field, even the least sure
    # (hand-written held-out set, docs/benchmarks.md), so the proxy answers them all.
    cascade_target_accuracy: float = setting(
        "AI_ASSETS_CASCADE_TARGET_ACCURACY", 0.9, "held-out accuracy the proxy needs to answer (0 embedded)", ge=0, le=1
    )
    cascade_few_shot: int = setting(
        "AI_ASSETS_CASCADE_FEW_SHOT", 3, "nearest labelled tickets shown to the LLM as examples", ge=0, le=10
    )
    # With the cascade on, a language-identification model answers `language` where it is sure
    # (transform/language.py); the defaults are the sample's languages and a threshold chosen on its
    # short fragments (benchmarks/language_id.py).
    triage_languages: str = setting(
        "AI_ASSETS_TRIAGE_LANGUAGES", ",".join(DEFAULT_LANGUAGES), "ISO 639-1 codes tickets come in, comma-separated"
    )
    language_min_confidence: float = setting(
        "AI_ASSETS_LANGUAGE_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE, "below it the LLM answers language", ge=0, le=1
    )
    # 0.1: a clean sample golden set has 0.04 suspect on e5, 19 of 120 labels flipped 0.19.
    label_max_suspect_share: float = setting(
        "AI_ASSETS_LABEL_MAX_SUSPECT_SHARE", 0.1, "share of suspect labels above which the proxy stops", ge=0, le=1
    )

    @field_validator("triage_languages")
    @classmethod
    def check_languages(cls, value: str) -> str:
        return ",".join(language_codes(value))

    @field_validator("landing_url")
    @classmethod
    def check_landing_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if "://" not in value:
            raise ValueError("is a bucket URL (s3://bucket/prefix); local landing files go under the data directory")
        return storage_url(value)

    @field_validator("data_dir", "dagster_home_set", "prompts_dir")
    @classmethod
    def absolute(cls, value: Path | None) -> Path | None:
        return value.resolve() if value else None

    @field_validator("partitions_start")
    @classmethod
    def check_day(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("is not a date; give YYYY-MM-DD") from None
        return value

    @field_validator("eval_targets", mode="before")
    @classmethod
    def parse_targets(cls, value: Any) -> Any:
        """`field=share,...` over LABEL_FIELDS; a field left out keeps its default target."""
        if not isinstance(value, str):
            return value
        targets = dict(EVAL_TARGETS)
        example = ",".join(f"{field}={share:g}" for field, share in EVAL_TARGETS.items())
        for item in filter(None, (part.strip() for part in value.split(","))):
            field, _, share = (part.strip() for part in item.partition("="))
            try:
                targets[field] = float(share)
            except ValueError:
                targets[field] = -1.0
            if field not in LABEL_FIELDS or not 0 <= targets[field] <= 1:
                raise ValueError(
                    f"holds {item!r}, not <field>=<share between 0 and 1> with a field among "
                    f"{', '.join(LABEL_FIELDS)}; give e.g. {example}"
                )
        return targets

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProjectSettings:
        return read_environment(cls, environ, **embedded_given(cls, uses_embedded_model(environ)))

    def reply_templates(self, llm: LLMResource) -> bool:
        """Whether replies are built from knowledge-base templates (defs/replies/templates.py): the
        embedded 135M model drafts none that passes the checks, so `auto` gives it the templates."""
        return self.reply_drafting == "template" or (self.reply_drafting == "auto" and llm.use_embedded_model)

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    def landing(self, endpoint_url: str | None) -> Landing:
        """The landing folders: local, or a mirror of AI_ASSETS_LANDING_URL (on `endpoint_url`'s store)."""
        return Landing(self.landing_dir, self.landing_url, endpoint_url)

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance `ai-assets demo`, `dev` and `backfill` share: DAGSTER_HOME when set,
        else `<data dir>/dagster_home`."""
        return self.dagster_home_set or self.data_dir / "dagster_home"


@dataclass(frozen=True)
class Settings:
    """A deployment's settings: the project's and each resource's, as read from one environment."""

    project: ProjectSettings
    llm: LLMResource
    small_llm: SmallLLMResource
    embeddings: EmbeddingResource
    tools: ToolsResource
    outbox: OutboxResource
    warehouse: WarehouseResource

    @property
    def data_dir(self) -> Path:
        return self.project.data_dir

    @property
    def landing_dir(self) -> Path:
        return self.project.landing_dir

    @property
    def dagster_home(self) -> Path:
        return self.project.dagster_home


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from the environment (or `environ`); raises SettingsError
    listing every bad value. The entry points call this once and pass the result down."""
    environ = environment() if environ is None else environ
    problems: list[str] = []

    def read(owner: Callable[..., T], *args: Any) -> T | None:
        try:
            return owner(environ, *args)
        except SettingsError as error:
            problems.extend(error.problems)
            return None

    project = read(ProjectSettings.from_env)
    data_dir = project.data_dir if project else Path("data").resolve()
    settings = {
        "llm": read(LLMResource.from_env, data_dir),
        "small_llm": read(SmallLLMResource.from_env),
        "embeddings": read(EmbeddingResource.from_env, data_dir),
        "tools": read(ToolsResource.from_env, data_dir),
        "outbox": read(OutboxResource.from_env, data_dir),
        "warehouse": read(WarehouseResource.from_env, data_dir),
    }
    if problems:  # the chat and embedding resources share some variables: one line each
        raise SettingsError(list(dict.fromkeys(problems)))
    return Settings(project=project, **settings)

"""The LLM step as a Dagster component: a daily table enriched by an LLM, declared in a `defs.yaml`
with a prompt file beside it, and nothing else.

    type: ai_assets.components.LLMStep
    attributes:
      name: order_risk
      description: One row per order, with the LLM's view of its delivery risk.
      input: orders
      key: [order_id]
      fields:
        - {name: risk, type: enum, values: [low, medium, high], description: How likely the order is late}

From that it builds what the triage has: the output table and its failures table as contracts
(columns, types, descriptions, lineage), one multi-asset writing both per day through the LLM
engine (cache, limits, retries, progress lines, metrics metadata), a schema check per table, a
conservation check (every input row in exactly one of the two), and a code version from the prompt,
the output schema and the model, so an edit marks it unsynced and an unchanged rerun asks nothing.
"""

import importlib
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model

from ai_assets.automation.jobs import JOB_TAG
from ai_assets.components.cascade import CascadeOption, StepCascade, plan_rows
from ai_assets.components.fields import OutputField
from ai_assets.components.landing_table import LandingTable
from ai_assets.components.loading import current
from ai_assets.components.scaffold import LLMStepScaffolder
from ai_assets.components.step_eval import EvalOption, evals_table, evaluate, gate, latest_eval
from ai_assets.llm.cost import Pricing
from ai_assets.llm.engine import lineage_without_call, output_schema
from ai_assets.llm.task import LLMTask, PromptTemplate
from ai_assets.quality.checks import conservation_check, schema_check
from ai_assets.quality.columns import ANSWER_COLUMNS, FAILURE_COLUMNS, answer_notes, failure_notes
from ai_assets.quality.evals import evaluated_plan
from ai_assets.quality.tables import TABLES
from ai_assets.resources import EmbeddingResource, LLMResource, SmallLLMResource
from ai_assets.transform.cascade import PROXY_SMALL_LLM, apply_proxy, fully_answered
from ai_assets.transform.llm_step import (
    LLM_POOL,
    LLM_STEP_RETRY_POLICY,
    LLMRunConfig,
    as_prompt_text,
    days_label,
    keyed,
    llm_metadata,
    run_llm_step,
)
from ai_assets.warehouse import registry
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read

_RESERVED = {"row_key", PARTITION_COLUMN, "examples", "proxy_fields", *ANSWER_COLUMNS, *FAILURE_COLUMNS}
_PROXY_FIELDS_NOTE = (
    "the fields the cascade's proxy answered (empty: the LLM answered every field; all: no LLM call, model 'cascade')"
)
ANSWERED_WITHOUT_LLM = "cascade"  # the `model` of a row no model was asked about


@dataclass(frozen=True)
class StepResources:
    """What a step's `_plan` may use besides its rows."""

    llm: LLMResource
    embeddings: EmbeddingResource
    warehouse: WarehouseResource
    task: LLMTask
    model: str
    small_llm: SmallLLMResource = field(default_factory=SmallLLMResource)

    def llm_of(self, plan: str) -> LLMResource | None:
        """The LLM `plan` asks instead of the step's (the small model under proxy_small_llm), or None."""
        return self.small_llm.resource(self.llm) if plan == PROXY_SMALL_LLM else None


@dataclass(frozen=True)
class StepPlan:
    """The day's rows, keyed by row_key, and of them the keys `answered` without the LLM (the cascade
    answered every field): the LLM is asked about the rest. `finish` turns the answers (the LLM's,
    and for the `answered` rows only their lineage, model ANSWERED_WITHOUT_LLM) into the output
    table's rows, `metadata` those rows into the materialisation's metadata."""

    rows: pl.DataFrame
    finish: Callable[[pl.DataFrame], pl.DataFrame] = lambda answers: answers
    metadata: Callable[[pl.DataFrame], dict] = lambda rows: {}
    answered: Sequence[str] = ()
    llm: LLMResource | None = None  # asked instead of the step's LLM (StepResources.llm_of)


class ModelPrices(dg.Model, dg.Resolvable):
    input_per_1m: float = Field(default=0.0, ge=0, description="USD per million prompt tokens")
    output_per_1m: float = Field(default=0.0, ge=0, description="USD per million completion tokens")


@dg.scaffold_with(LLMStepScaffolder)
class LLMStep(dg.Component, dg.Model, dg.Resolvable):
    """A daily warehouse table enriched by an LLM, one call per row (cached), with a failures table,
    lineage columns, schema and conservation checks, and metrics: declared, not coded."""

    name: str = Field(description="The output table; its failures table is <name>_failures.")
    description: str = Field(description="What one row of the output table is, e.g. 'One row per review, ...'.")
    input: str = Field(description="The daily warehouse table each row of which the LLM is asked about.")
    key: list[str] = Field(description="The input's columns that identify a row within its day.")
    fields: list[OutputField] = Field(default_factory=list, description="The columns the LLM fills.")
    output_model: str | None = Field(
        default=None,
        description="Instead of `fields`: a pydantic model, `package.module:Class`, whose scalar fields (each "
        "with a description) become the columns and whose validators apply to every answer.",
    )
    prompt: str = Field(default="prompt.txt", description="Beside the defs.yaml: [system] and [user] sections.")
    group: str | None = Field(
        default=None, description="The asset group (the feature) in the UI; default: the folder of the defs.yaml."
    )
    job: str | None = Field(
        default="daily_tickets_job",
        description="The job the step runs in with each day (its tag ai_assets/job); null: none, launch it alone.",
    )
    chat_model: str | None = Field(
        default=None,
        description="This step's chat model at the llm resource's endpoint (a larger one for a hard step, a "
        "cheaper one for an easy one); unset: AI_ASSETS_CHAT_MODEL. On the embedded model the embedded one answers.",
    )
    prices: ModelPrices | None = Field(
        default=None,
        description="USD per million tokens of `chat_model`; unset with `chat_model`: unpriced (cost_usd reads 0, "
        "with a warning); unset without: the llm resource's AI_ASSETS_PRICE_*.",
    )
    batch_size: int = Field(default=1, description="Rows per request (>1: several rows in one call).")
    max_tokens: int = Field(default=300, description="Per row.")
    temperature: float = 0.0
    cascade: CascadeOption | None = Field(
        default=None,
        description="A proxy fitted on a labelled table answers the enum fields it is sure of before the LLM "
        "(`labels`, `fields`, `target_accuracy`); the output's `proxy_fields` says which.",
    )

    eval: EvalOption | None = Field(
        default=None,
        description="With a cascade: an evaluation asset (<name>_eval, in eval_job) that runs the step over the "
        "labels into <name>_evals, with a check against `targets`; `blocking` gates the step on it.",
    )

    _cascade_plan: StepCascade | None = PrivateAttr(default=None)
    _evals: Table | None = PrivateAttr(default=None)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        # The model names the step's code version and the project its days.
        settings = current().settings
        source = _input_table(self.input, context)
        task, fields = self._task(context, source)
        if self.cascade:
            # The small model matters only to a step whose evaluation may choose it.
            small = settings.small_llm.describe() if self.eval else ""
            self._cascade_plan = self._cascade_of(context, task, fields, settings.project, small)
        if self.eval:
            self._evals = self._evals_of()
        output, failures = self._tables(source, fields)
        daily = Daily.from_settings(settings.project)
        group = self.group or Path(context.path).name
        model = self._model_of(settings.llm)
        assets = [_step_asset(self, task, source, output, failures, model, daily, group)]
        checks = self._checks(source, output, failures, daily)
        if self._evals is not None:
            assets.append(_eval_asset(self, task, model))
            checks.append(schema_check(self._evals))
        return dg.Definitions(assets=assets, asset_checks=checks)

    # What a step of its own (the triage: ai_assets/defs/triage/step.py) may do otherwise: its task,
    # its tables, its checks, what it depends on, and what happens to the rows before and after the LLM.

    def _task(self, context: dg.ComponentLoadContext, source: Table) -> tuple[LLMTask, list[OutputField]]:
        """What the LLM is asked (the prompt beside the defs.yaml, the answer's model) and the columns it fills."""
        prompt = PromptTemplate.from_file(Path(context.path) / self.prompt, self.name)
        columns = _prompt_columns(prompt)
        answer, fields = self._answer()
        self._refuse_unknown(source, columns, fields)
        task = LLMTask(
            name=self.name,
            prompt=prompt,
            output_model=answer,
            input_columns=tuple(columns),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            batch_size=self.batch_size,
        )
        return task, fields

    def _tables(self, source: Table, fields: list[OutputField]) -> tuple[Table, Table]:
        """The output and failures contracts, declared to the warehouse."""
        output, failures = _tables(self, source, fields)
        return registry.declare(output), registry.declare(failures)

    def _checks(self, source: Table, output: Table, failures: Table, daily: Daily) -> list[dg.AssetChecksDefinition]:
        name = f"every_{source.name}_row_in_{output.name}_once"
        return [
            schema_check(output, daily.partitions_def),
            schema_check(failures, daily.partitions_def),
            conservation_check(name, output, (output, failures), source, daily.partitions_def),
        ]

    def _upstream(self, source: Table) -> list[str]:
        """The assets the output table depends on besides its input (e.g. what decides how it answers)."""
        # The evaluation chooses the plan (and with `blocking` gates the step): a new one marks the step stale.
        evaluated = [self._evals.name] if self.eval else []
        return [self._cascade_plan.labels.name, *evaluated] if self._cascade_plan else []

    def _code_version(self, task: LLMTask, model: str) -> str:
        cascade = f"+{self._cascade_plan.describe()}" if self._cascade_plan else ""
        return f"{task.prompt_version}+{model}{cascade}"

    def _label(self, days: list) -> str:
        """How the run log names the step's work on `days`."""
        return f"{self.name} {days_label(days)}"

    def _plan(self, context: dg.AssetExecutionContext, rows: pl.DataFrame, step: StepResources) -> StepPlan:
        """The rows to ask the LLM about (keyed by row_key), and what to do with its answers: every row as
        it is and every answer as it came, or with the cascade, the proxy's answers where it is sure."""
        cascade = self._cascade_plan
        if cascade is None:
            return StepPlan(rows)
        with step.warehouse.get_connection() as conn:
            labels = read(conn, cascade.labels)
            evals = read(conn, self._evals) if self.eval else None
        evaluated = None
        if evals is not None:
            if self.eval.blocking and (
                problem := gate(evals, self.name, step.model, step.task, cascade, self.eval.targets)
            ):
                raise dg.Failure(problem, allow_retries=False)
            # The plan the latest evaluation chose (the cheapest that met its targets); without one, the cascade.
            evaluated = latest_eval(evals, step.model, step.task.prompt_version, cascade.describe())
        plan, why = evaluated_plan(evaluated, "no evaluation yet" if self.eval else "no eval declared")
        planned = plan_rows(cascade, step.embeddings, labels, rows, plan=plan)
        context.log.info(f"{self._label(partition_days(context))}: plan {plan} ({why}); {planned.metadata}")
        fields = output_schema(step.task.output_model)
        return StepPlan(
            planned.rows,
            finish=lambda answers: apply_proxy(answers, planned.lineage, cascade.fields),
            metadata=lambda answered: {"plan": plan, "plan_reason": why, **planned.metadata},
            answered=fully_answered(planned.lineage, list(fields)) if set(fields) <= set(cascade.fields) else (),
            llm=step.llm_of(plan),
        )

    def _evals_of(self) -> Table:
        """The evaluation's table, refused with what is wrong: no cascade to take labels from, or a
        target for a field the cascade does not name."""
        if self._cascade_plan is None:
            raise ValueError(f"LLMStep {self.name}: eval needs a cascade (its labels are what it scores against)")
        unknown = [f for f in self.eval.targets if f not in self._cascade_plan.fields]
        if unknown:
            raise ValueError(f"LLMStep {self.name}: eval targets {unknown} are not fields of its cascade")
        return registry.declare(evals_table(self.name, self._cascade_plan.fields))

    def _cascade_of(
        self, context: dg.ComponentLoadContext, task: LLMTask, fields: list[OutputField], project, small_llm: str
    ) -> StepCascade:
        """The cascade option with the project's defaults, refused with what is wrong: a field the proxy
        cannot answer, or a labels table without the prompt's columns or the fields."""
        labels = _input_table(self.cascade.labels, context, "cascade labels")
        text = [c for c in task.input_columns if c != "examples"]
        enums = {f.name for f in fields if f.type == "enum"}
        wanted = [*text, *self.cascade.fields]
        not_enum = [f for f in self.cascade.fields if f not in enums]
        problems = [f"cascade field {f!r} is not an enum field of the step" for f in not_enum]
        problems += [f"labels table {labels.name} has no column {c!r}" for c in wanted if c not in labels.columns]
        if problems or not self.cascade.fields:
            raise ValueError(f"LLMStep {self.name}: " + ("; ".join(problems) or "cascade has no fields"))
        return StepCascade.of(self.cascade, labels, text, project, small_llm)

    def _model_of(self, llm: LLMResource) -> str:
        """The model that answers this step: part of its code version, so a new one marks it unsynced."""
        return llm.for_model(self.chat_model).chat_model

    def _llm_of(self, context: dg.AssetExecutionContext, llm: LLMResource) -> LLMResource:
        if self.chat_model and llm.use_embedded_model:
            context.log.info(f"{self.name}: the embedded model answers; chat_model {self.chat_model} needs an endpoint")
        prices = Pricing(self.prices.input_per_1m, self.prices.output_per_1m) if self.prices else None
        return llm.for_model(self.chat_model, prices)

    def _answer(self) -> tuple[type[BaseModel], list[OutputField]]:
        """The answer's pydantic model and its columns: built from `fields`, or `output_model`'s."""
        if bool(self.fields) == bool(self.output_model):
            raise ValueError(f"LLMStep {self.name}: give either `fields` or `output_model` (one of them)")
        if self.fields:
            return _output_model(self.name, self.fields), self.fields
        model = _import_model(self.name, self.output_model)
        return model, _fields_of(self.name, model)

    def _refuse_unknown(self, source: Table, prompt_columns: list[str], fields: list[OutputField]) -> None:
        problems = [f"key column {c!r}" for c in self.key if c not in source.columns]
        given = {*source.columns, *(["examples"] if self.cascade else [])}  # examples: the cascade's
        problems += [f"prompt placeholder {{{c}}}" for c in prompt_columns if c not in given]
        problems += [f"field {f.name!r} is a reserved column name" for f in fields if f.name in _RESERVED]
        problems += [f"field {f.name!r} is also a key column" for f in fields if f.name in self.key]
        problems += [f"field {f.name!r} has no description" for f in fields if not f.description.strip()]
        problems += [
            f"field {f.name!r} of type enum has no values" for f in fields if f.type == "enum" and not f.values
        ]
        if not source.partitioned:
            problems.append(f"input {source.name} is not a daily table (LLMStep reads one day at a time)")
        if problems:
            raise ValueError(
                f"LLMStep {self.name}: "
                + "; ".join(problems)
                + f". {source.name}'s columns: {', '.join(source.columns)}"
            )


def _input_table(name: str, context: dg.ComponentLoadContext, role: str = "input") -> Table:
    known = {table.name: table for table in [*TABLES, *registry.declared()]}
    if name in known:
        return known[name]
    declared = current().remember("declared", lambda: _declared_names(Path(context.defs_module_path)))
    if name in declared:
        # A LandingTable of the defs folder, whichever order the folders load in: loaded through
        # Dagster, which then knows this step depends on it.
        component = context.load_component(declared[name])
        if isinstance(component, LandingTable):
            return registry.declare(component.tables()[0])
    raise ValueError(
        f"LLMStep {role} {name!r} is neither a warehouse table nor a LandingTable of the defs folder; the tables: "
        f"{', '.join(sorted(known))}"
    )


def _declared_names(defs_folder: Path) -> dict[str, Path]:
    """The `name` of each component declared under `defs_folder`, and its folder."""
    found = {}
    for declaration in defs_folder.rglob("defs.yaml"):
        attributes = (yaml.safe_load(declaration.read_text()) or {}).get("attributes") or {}
        if "name" in attributes:
            found[attributes["name"]] = declaration.parent
    return found


def _prompt_columns(prompt: PromptTemplate) -> list[str]:
    names = [name for _, name, _, _ in string.Formatter().parse(prompt.user) if name]
    return list(dict.fromkeys(names))


def _output_model(name: str, fields: list[OutputField]) -> type[BaseModel]:
    """The answer's pydantic model: every field required (nullable where allowed), nothing else, so
    it is valid for providers' strict structured-output mode too."""
    definitions = {f.name: (f.annotation(), f.pydantic_field()) for f in fields}
    return create_model(f"{name}_answer", __config__=ConfigDict(extra="forbid"), **definitions)


def _import_model(step: str, path: str) -> type[BaseModel]:
    module_name, _, class_name = path.partition(":")
    try:
        model = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(
            f"LLMStep {step}: output_model {path!r} (package.module:Class) does not import: {error}"
        ) from error
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"LLMStep {step}: output_model {path!r} is not a pydantic model")
    return model


def _fields_of(step: str, model: type[BaseModel]) -> list[OutputField]:
    """The columns of a pydantic model's scalar fields, read from its JSON schema (what the model is
    asked to answer): type, allowed values, length, bounds, nullability and description."""
    fields = []
    for name, schema in model.model_json_schema()["properties"].items():
        options = schema.get("anyOf", [schema])
        concrete = [option for option in options if option.get("type") != "null"]
        kind = "enum" if "enum" in concrete[0] else concrete[0].get("type")
        if len(concrete) != 1 or kind not in ("enum", "string", "boolean", "integer", "number"):
            raise ValueError(f"LLMStep {step}: output_model field {name!r} is not a scalar a table column can hold")
        fields.append(
            OutputField(
                name=name,
                description=schema.get("description", ""),
                type=kind,
                values=concrete[0].get("enum", []),
                max_length=concrete[0].get("maxLength"),
                minimum=concrete[0].get("minimum"),
                maximum=concrete[0].get("maximum"),
                nullable=len(concrete) < len(options),
            )
        )
    return fields


def _tables(step: LLMStep, source: Table, fields: list[OutputField]) -> tuple[Table, Table]:
    key = (PARTITION_COLUMN, *(c for c in step.key if c != PARTITION_COLUMN))
    key_columns = {c: pa.Column(source.columns[c].dtype.type) for c in key}
    key_notes = {c: source.notes.get(c) or f"from {source.name}" for c in key}
    # Both tables: daily, keyed like the input, written by an LLM step, as personal as the input.
    shared = {"key": key, "partitioned": True, "llm": True, "pii": source.pii}
    output = Table(
        step.name,
        step.description,
        {
            **key_columns,
            **{f.name: f.column() for f in fields},
            **({"proxy_fields": pa.Column(pl.List(pl.Utf8))} if step.cascade else {}),
            **ANSWER_COLUMNS,
        },
        **shared,
        preview=tuple(c for c in (*step.key, *(f.name for f in fields)) if c != PARTITION_COLUMN)[:6],
        notes={
            **key_notes,
            **{f.name: f.description for f in fields},
            "proxy_fields": _PROXY_FIELDS_NOTE,
            **answer_notes("input"),
        },
    )
    failures = Table(
        f"{step.name}_failures",
        f"One row per {source.name} row whose {step.name} answer failed after retries, with the reason and the raw "
        "answer.",
        {**key_columns, **FAILURE_COLUMNS},
        **shared,
        preview=(*(c for c in key if c != PARTITION_COLUMN), "error_type", "reason"),
        notes={**key_notes, **failure_notes("input")},
    )
    return output, failures


def _step_asset(
    step: LLMStep, task: LLMTask, source: Table, output: Table, failures: Table, model: str, daily: Daily, group: str
) -> dg.AssetsDefinition:
    key = list(output.key)
    job_tags = {JOB_TAG: step.job} if step.job else {}

    @dg.multi_asset(
        name=step.name,
        specs=[
            output.spec(deps=[source.name, *step._upstream(source)], tags=job_tags),
            failures.spec(deps=[source.name], tags=job_tags),
        ],
        group_name=group,
        code_version=step._code_version(task, model),
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
        **daily.asset_args(),
    )
    def llm_step(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        small_llm: SmallLLMResource,
        embeddings: EmbeddingResource,
        warehouse: WarehouseResource,
    ):
        days = partition_days(context)
        label = step._label(days)
        llm = step._llm_of(context, llm)
        with warehouse.get_connection() as conn:
            rows = read(conn, source, days)
        rows = keyed(rows, key)
        doubled = rows.filter(pl.col("row_key").is_duplicated())["row_key"].unique().sort()
        if doubled.len():
            raise dg.Failure(
                f"{label}: {doubled.len()} keys of {source.name} name more than one row (e.g. "
                f"{', '.join(doubled.head(3))}): `key` ({', '.join(step.key)}) must identify one row per day",
                allow_retries=False,
            )
        plan = step._plan(context, rows, StepResources(llm, embeddings, warehouse, task, model, small_llm))
        llm = plan.llm if plan.llm is not None else llm
        asked = as_prompt_text(plan.rows, task)
        skipped = pl.col("row_key").is_in(list(plan.answered))
        without_llm = asked.filter(skipped)
        if without_llm.height:
            context.log.info(f"{label}: {without_llm.height} of {asked.height} rows answered without an LLM call")
        result = run_llm_step(context, llm, config, task, asked.filter(~skipped), label, without_llm.height)
        no_call = lineage_without_call(
            task, without_llm, "row_key", llm.max_input_chars, llm.redact_pii, ANSWERED_WITHOUT_LLM
        )
        keys = rows.select("row_key", *key)
        answers = pl.concat([result.outputs, no_call], how="diagonal_relaxed")
        answered = plan.finish(answers).join(keys, on="row_key")
        failed = result.failures.join(keys, on="row_key")
        context.log.info(f"{label}: answered {answered.height}, failed {failed.height}; {result.metrics.to_dict()}")
        stats = {
            "model": llm.chat_model if plan.llm else model,
            "prompt_version": task.prompt_version,
            **llm_metadata(context, result.metrics, llm),
            "rows_without_llm": without_llm.height,
            **plan.metadata(answered),
        }
        yield from warehouse.write({output: answered, failures: failed}, days, {output: stats})

    return llm_step


def _eval_asset(step: LLMStep, task: LLMTask, model: str) -> dg.AssetsDefinition:
    cascade, table, option = step._cascade_plan, step._evals, step.eval
    goal = ", ".join(f"{f} {t:g}" for f, t in option.targets.items()) or "no targets"
    check = dg.AssetCheckSpec(
        f"{step.name}_accuracy_meets_target",
        asset=table.name,
        blocking=option.blocking,
        description=f"{step.name}'s accuracy on {cascade.labels.name} meets every target ({goal}).",
    )

    @dg.multi_asset(
        name=f"{step.name}_eval",
        specs=[table.spec(deps=[cascade.labels.name])],
        check_specs=[check],
        group_name="evals",
        code_version=f"{step._code_version(task, model)}+targets {goal}",  # the step's, and what chooses its plan
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
    )
    def step_eval(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        small_llm: SmallLLMResource,
        embeddings: EmbeddingResource,
        warehouse: WarehouseResource,
    ):
        resources = StepResources(step._llm_of(context, llm), embeddings, warehouse, task, model, small_llm)
        yield from evaluate(context, resources, config, step.name, cascade, table, option.targets, option.blocking)

    return step_eval

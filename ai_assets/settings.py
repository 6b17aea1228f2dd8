"""Settings read from the environment by the class that uses them.

Each resource (and `config.ProjectSettings`) declares its settings as pydantic fields made with
`setting(...)`: the default, the bounds, a description (shown on the resource's page in the Dagster
UI) and the environment variable. `read_environment` fills a class from its variables and turns
pydantic's errors into one line per bad variable, naming it and what to give instead.

Why not `dg.EnvVar`: it has no default for an unset variable (dagster-io/dagster#16232) and no
float form, and it is resolved when a run starts, so a bad value would fail runs instead of the
load. Secrets are never a setting: the `openai` client and the sinks read them from the environment.
"""

import os
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class SettingsError(ValueError):
    """One or more environment variables hold values the pipeline cannot use; the message lists each."""

    def __init__(self, problems: list[str]):
        super().__init__("Invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


def environment() -> Mapping[str, str]:
    """The process's environment: what the entry points read the settings from."""
    return os.environ


def setting(env: str, default: Any, description: str, **constraints: Any) -> Any:
    """A field read from the environment variable `env`. Numbers must be finite."""
    if isinstance(default, float):
        constraints.setdefault("allow_inf_nan", False)
    return Field(default, description=f"{description} ({env})", json_schema_extra={"env": env}, **constraints)


def env_name(model: type[BaseModel], field: str) -> str | None:
    extra = model.model_fields[field].json_schema_extra
    return extra.get("env") if isinstance(extra, dict) else None


def embedded_given(owner: type[BaseModel], embedded: bool) -> dict[str, Any]:
    """`owner`'s defaults for the embedded local model (its `embedded_defaults`) when that model
    serves: given as values, under the variables, so the UI shows what a run uses."""
    return dict(getattr(owner, "embedded_defaults", {})) if embedded else {}


def read_environment(owner: type[Model], environ: Mapping[str, str], /, **given: Any) -> Model:
    """`owner` from its variables in `environ` (an empty variable counts as unset), over `given`;
    raises SettingsError with a line per bad value."""
    values = dict(given)
    for field in owner.model_fields:
        name = env_name(owner, field)
        if name and environ.get(name):
            values[field] = environ[name]
    try:
        return owner(**values)
    except ValidationError as error:
        raise SettingsError([_problem(owner, values, detail) for detail in error.errors()]) from None


def _problem(model: type[BaseModel], values: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    if not detail["loc"]:  # a check across fields says which variables it means
        return _explain(model, "", detail)
    field = str(detail["loc"][0])
    name = env_name(model, field) if field in model.model_fields else None
    where = f"{name}={values.get(field)!r}" if name else f"{model.__name__}.{field}"
    return f"{where} {_explain(model, field, detail)}"


def _explain(model: type[BaseModel], field: str, detail: Mapping[str, Any]) -> str:
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']:g}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']:g}"
    if kind in ("finite_number", "float_parsing", "float_type"):
        default = model.model_fields[field].default if field in model.model_fields else None
        example = f"; unset it or give e.g. {default:g}" if isinstance(default, (int, float)) else ""
        return f"is not a number{example}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        try:
            float(detail.get("input"))
        except (TypeError, ValueError):
            return "is not a number"
        return "must be a whole number"
    if kind == "bool_parsing":
        return "must be on or off"
    if kind == "literal_error":
        return f"must be one of {context['expected'].replace(' or ', ', ').replace(chr(39), '')}"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    return detail["msg"]


def http_url(value: str | None, *, also: tuple[str, ...] = ()) -> str | None:
    """For a field validator: an optional http(s) URL (or one of the words in `also`)."""
    parts = urlsplit(value or "")
    if value is None or value in also or (parts.scheme in ("http", "https") and parts.netloc):
        return value
    words = "".join(f" or {word!r}" for word in also)
    raise ValueError(f"is not an http(s) URL; give e.g. http://127.0.0.1:8000/v1{words}")


def storage_url(value: str) -> str:
    """For a field validator: a local folder, or an S3 URL (DuckDB's httpfs writes the lake there)."""
    if "://" not in value:
        return value
    protocol = value.split("://", 1)[0]
    if protocol != "s3":
        raise ValueError(f"unknown storage protocol {protocol!r}; use a folder or s3://bucket/prefix")
    return value.rstrip("/")

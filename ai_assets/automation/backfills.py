"""Range backfills submitted from the command line, run by the daemon like a UI backfill.

`dagster job backfill` launches one run per day and ignores backfill policies; this submits the
same asset backfill the UI's "Materialize" on a range does, through the same door: the webserver's
GraphQL API (`launchPartitionBackfill`). The daemon then groups the days per
`daily_backfill_policy` and rebuilds the marts downstream once.
"""

import json
import urllib.error
import urllib.request

import dagster as dg

from ai_assets.automation.jobs import DAILY_TICKETS_ASSETS, EVAL_ASSETS

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


def daily_backfill_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The assets of `daily_tickets_job` and every asset downstream of them (the dbt marts), but not
    the evaluation: it reads the tickets' labels, not the days, and runs in `eval_job`."""
    return sorted((DAILY_TICKETS_ASSETS.downstream() - EVAL_ASSETS).resolve(defs.resolve_asset_graph()))


def submit_daily_backfill(url: str, defs: dg.Definitions, first_day: str, last_day: str) -> str:
    """Submits a backfill of the days `first_day`..`last_day` (inclusive) to the webserver at `url`
    (`ai-assets dev`'s); returns its id. Raises ValueError with what to do when it is refused."""
    daily_partitions = defs.resolve_job_def("daily_tickets_job").partitions_def
    days = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first_day, last_day))
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": key.path} for key in daily_backfill_keys(defs)],
        "title": f"tickets {first_day}..{last_day}",
        "fromFailure": False,
    }
    answer = _graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        problem = f"{answer['__typename']}: {answer.get('message')}"
        raise ValueError(f"the webserver at {url} refused the backfill: {problem}")
    return answer["backfillId"]


def _graphql(url: str, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:  # it answered, with an error: say what it said
        raise ValueError(f"the webserver at {url} answered HTTP {error.code}: {error.read()[:500]!r}") from error
    except (urllib.error.URLError, OSError) as error:
        raise ValueError(
            f"no Dagster webserver answers at {url} ({error}): start `ai-assets dev` (its daemon runs the "
            "backfill), or give its address with --url"
        ) from error
    if answer.get("errors"):
        raise ValueError(f"the webserver at {url} refused the backfill: {answer['errors'][0]['message']}")
    return answer["data"]

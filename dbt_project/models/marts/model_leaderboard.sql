-- One row per triage version (model, prompt version, cascade settings) on the current labelled set:
-- its latest evaluation side by side with the others, best mean accuracy first: the accuracy of the plan
-- the evaluation chose and the triage runs (eval_runs.plan), so a version is ranked as it would run. A version evaluated on
-- an older label set drops off once the labels change: only scores on the same tickets compare.
with current_labels as (
    select labels_hash from {{ source('warehouse', 'eval_runs') }}
    order by evaluated_at desc
    limit 1
),
latest as (
    select *
    from {{ source('warehouse', 'eval_runs') }}
    where labels_hash in (select labels_hash from current_labels)
    qualify row_number() over (partition by task, model, prompt_version, cascade order by evaluated_at desc) = 1
)
select
    rank() over (
        order by (coalesce(accuracy_category, 0) + coalesce(accuracy_urgency, 0) + coalesce(accuracy_sentiment, 0)
            + coalesce(accuracy_language, 0)) / 4 desc
    ) as rank,
    task,
    model,
    prompt_version,
    cascade,
    plan,
    n,
    round((coalesce(accuracy_category, 0) + coalesce(accuracy_urgency, 0) + coalesce(accuracy_sentiment, 0)
        + coalesce(accuracy_language, 0)) / 4, 4) as mean_accuracy,
    accuracy_category,
    accuracy_urgency,
    accuracy_sentiment,
    accuracy_language,
    macro_f1_category,
    llm_accuracy_category,
    llm_call_share,
    proxy_accuracy_category,
    proxy_share,
    coverage,
    cost_per_1k_usd,
    latency_p50_ms,
    latency_p95_ms,
    labels_hash,
    eval_id,
    evaluated_at
from latest

"""`dg scaffold defs ai_assets.components.LLMStep <folder>`: a defs.yaml and a prompt file that
`dg check defs` accepts as they are, over raw_tickets, to edit into your own step."""

from __future__ import annotations

import dagster as dg

SKELETON_PROMPT = """[system]
You read customer-support tickets and say what each one is mostly about. Answer with JSON only.

[user]
Subject: {subject}
{body}
"""


class LLMStepScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name
        attributes = {
            "name": name,
            "description": f"One row per ticket, with {name}'s answer.",
            "input": "raw_tickets",
            "key": ["ticket_id"],
            "prompt": "prompt.txt",
            "fields": [
                {
                    "name": "topic",
                    "type": "enum",
                    "values": ["order", "account", "product", "other"],
                    "description": "What the ticket is mostly about",
                },
                {"name": "gist", "type": "string", "max_length": 80, "description": "The ticket in a few words"},
            ],
        }
        dg.scaffold_component(request, attributes)
        (request.target_path / "prompt.txt").write_text(SKELETON_PROMPT, encoding="utf-8")

"""What the LLM steps of every feature share: the step runner (llm_step.py) and the cascade's proxy
(cascade.py). The steps themselves live in their feature folders under ai_assets/defs/."""

"""The project's `dg` defs folder, loaded by `dg.load_from_defs_folder` (ai_assets/definitions.py):
each sub-folder is one feature (an asset group), declared with components (`defs.yaml`) or wired in
its `definitions.py`, with its modules, prompts, SQL and table contracts beside it; `automation/`
holds the jobs, schedules and sensors, `resources.py` the resources and the executor.
"""

"""The project's `dg` defs folder: each sub-folder is one feature, declared with components
(`defs.yaml`) or Python modules, and loaded by `dg.load_from_defs_folder` (ai_assets/definitions.py).

Features move here from the layered packages one at a time; until they all have, the definitions
built by `build_definitions` are merged with what this folder declares.
"""

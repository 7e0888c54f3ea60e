"""LaZSL engine: models, prompts, views, OT alignment, explanations, feature cache, pipeline.

torch + open_clip + POT only; no Qt, no SQL. Import submodules directly
(`from engine.alignment import lazsl_scores`); this package import stays cheap.
"""

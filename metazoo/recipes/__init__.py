"""Recipes behind `metazoo train`: one frozen dataclass per algorithm (`base.Recipe`).

Each recipe module exposes `RECIPE`, its `Recipe` subclass: the settings as
fields (from which the `metazoo train <algorithm>` options, the metadata's
`training` record and the reproducing command come) and the few methods
the shared runner (`Recipe.run`) needs.
"""

"""editrl agents: the roles, their backends, and the registry that builds them from a config.

Importing the package registers the rewards that read a plan the way the Canvas editor does with the
:mod:`rewards` registry (``plan_checklist``, from :mod:`agents.plan_reward`): the rewards and environment layers sit
below the agents and cannot import the editor's grammar, so the agents add that reward when they are loaded.
"""

from __future__ import annotations

from agents import plan_reward as _plan_reward  # noqa: F401  (registers the plan_checklist reward)

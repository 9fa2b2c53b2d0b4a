"""Models of the ``experiences`` app: the authored graph (graph.py) and its execution (runs.py)."""

from .analytics import ExperienceSummary
from .graph import Edge, Experience, ExperienceVersion, Node, TriggerIndex
from .runs import (
    ChainLimitHit,
    EmailDelivery,
    Run,
    RunInFlight,
    RunRotation,
    RunStep,
    month_of,
)
from .simulation import Simulation

__all__ = [
    "ChainLimitHit",
    "Edge",
    "EmailDelivery",
    "Experience",
    "ExperienceSummary",
    "ExperienceVersion",
    "Node",
    "Run",
    "RunInFlight",
    "RunRotation",
    "RunStep",
    "Simulation",
    "TriggerIndex",
    "month_of",
]

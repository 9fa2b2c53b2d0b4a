"""Simulation: replay a version against the store's history with every effect only recorded.

``history`` reads the replayed events, ``replay`` walks them through the version's nodes (the same
node code as the live engine, the same condition compiler, effects recorded by
``effects.SimulatedEffects``), ``result`` shapes what a merchant reads, ``run`` is the background
job (progress, cancel, the result written once).
"""

"""Experiences: versioned node graphs stored as rows, and their runs."""

"""Operator tooling: the local topology, sample data and location reloads."""

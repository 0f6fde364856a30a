"""Common library of the data platform: every code location depends on it, none on another."""

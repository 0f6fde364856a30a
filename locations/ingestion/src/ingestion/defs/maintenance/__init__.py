"""Upkeep of the warehouse lake, which every location writes."""

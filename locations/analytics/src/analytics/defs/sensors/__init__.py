"""The location's sensors: cross-location triggers and run health."""

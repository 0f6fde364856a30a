"""Every asset, job, schedule and sensor of the location, found by walking this package."""

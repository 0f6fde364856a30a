"""Every asset, asset check, job and sensor of the location, found by walking this package."""

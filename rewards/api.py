def register(router):
    """Add the rewards routes to the store router (filled in by the API module)."""

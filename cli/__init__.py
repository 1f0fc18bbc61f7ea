"""The inferpipe command line (Typer). It reaches the engine only through the API client."""

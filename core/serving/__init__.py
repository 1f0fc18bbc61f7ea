"""Real-time serving: endpoints turned into fleets, the data-plane router, blue/green updates,
metrics and alarms."""

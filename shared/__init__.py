"""What every Pilotage service shares: settings, database, errors, pagination, auth, HTTP client,
health, observability, the app factory, and the wire contracts exchanged between services."""

"""The ``pilotage`` command: run the platform, migrate, manage keys."""

"""Strategy service: objectives aligned company → department → team, key results, check-ins, progress."""

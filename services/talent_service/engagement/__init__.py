"""Engagement surveys: anonymous responses and their suppressed results (DESIGN §4, §9)."""

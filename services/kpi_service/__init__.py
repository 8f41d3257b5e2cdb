"""KPI service: KPI definitions, targets and thresholds, measurements, status, trends and rollups."""

"""Initiatives: continuous-improvement action plans aimed at an objective, a key result or a KPI,
with their dated updates and, for a KPI, their measured effect (DESIGN §9)."""

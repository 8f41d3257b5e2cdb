"""Talent service: org units, people, skills, trainings, engagement and HR indicators."""

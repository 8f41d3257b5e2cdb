"""The talent service's capability side: skills, assessments, required skills and gaps, trainings
and enrolments, and the org-unit health the alignment views read."""

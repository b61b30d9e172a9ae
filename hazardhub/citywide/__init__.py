"""The city bureau compares its districts: normalised figures, drill-down, the outside witness."""

"""Rectification directives (整改指令), their PDF and the daily escalation of overdue hazards."""

"""In-app notifications: what is due this month per role (computed by the daily job) and events
(overdue, escalation) pushed by other areas through ``operations.notify``."""

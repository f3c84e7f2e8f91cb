"""The history of analyses: recording each answer, and the scoped queries behind /history and /stats."""

"""Issue 20: every door holds against hostile input (no 5xx, no personal data in logs, limits that hold)."""

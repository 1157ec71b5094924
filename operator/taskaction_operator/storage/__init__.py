"""Where an action's data lives in object storage."""

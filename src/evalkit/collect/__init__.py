"""The front of the quarter's loop: per-unit reporting templates, read back into the store."""

"""Reading a study's input files, validating them, and ingesting them into the store."""

"""Low-level on-disk formats: CRC-32C, LevelDB-style tables, OrderedCode, TensorBundle."""

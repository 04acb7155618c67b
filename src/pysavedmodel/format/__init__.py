"""Low-level on-disk formats: CRC-32C, LevelDB-style tables, OrderedCode, TensorBundle."""

from .bundle import CheckpointReader, CheckpointWriter, read_checkpoint, write_checkpoint

__all__ = ["CheckpointReader", "CheckpointWriter", "read_checkpoint", "write_checkpoint"]

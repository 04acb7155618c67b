"""Generated protocol buffer classes (package ``tensorflow``), never edited by hand.

Regenerate with ``python scripts/compile_protos.py``.  Every module registers
into :data:`pysavedmodel._proto._pool.POOL`, a private descriptor pool, so that
these classes coexist with TensorFlow's in one process.
"""

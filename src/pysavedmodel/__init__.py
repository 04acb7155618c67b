"""pysavedmodel: write TensorFlow SavedModels and checkpoints without TensorFlow."""

"""Reading SavedModel directories: parse (:mod:`.loader`), describe, validate."""

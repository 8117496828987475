"""Media handling: input checks now; decode, encode and mux join with the pipeline."""

"""Step 4 of the pipeline: the run — its plan and cells, the app spec, the executor, quality drift."""

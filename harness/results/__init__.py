"""Step 5 of the pipeline: the result documents — their schema, their files, baselines, and a tidy frame."""

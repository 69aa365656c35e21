"""Step 1 of the pipeline: what is measured — model sources, prompt sets, and their token ids."""

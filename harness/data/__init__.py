"""Package data: the app contract's schemas and examples, the results schema, and the
weights of the small trained model (``trained:tiny``) that ships with the harness."""

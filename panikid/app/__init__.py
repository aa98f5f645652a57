"""The composition root: the only package that imports everything, loads the components, builds the
pipeline and its surfaces, and runs the daemon."""

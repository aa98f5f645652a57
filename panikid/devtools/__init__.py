"""Tools for tests and benchmarks (test speech); nothing in the daemon imports them."""

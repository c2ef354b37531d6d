"""App-side helpers: the shared sidebar and state, and the one caching module."""

"""Use cases over the engine: replay, demo histories."""

"""e-Kino pipeline."""

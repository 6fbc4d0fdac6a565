"""Pictures of where sound goes (matplotlib, imported lazily)."""

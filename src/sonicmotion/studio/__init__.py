"""The browser studio: draw source paths around the listener, render, listen (docs/scenes.md)."""

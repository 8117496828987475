"""Forge's package next to `modules` (here empty): its presence is how Forge is told apart."""

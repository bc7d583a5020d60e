"""Judging drags and generators: a landmark detector for the procedural faces, Fréchet distance."""

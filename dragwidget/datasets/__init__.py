"""Data the project makes for itself: procedural cartoon faces with exact landmarks."""

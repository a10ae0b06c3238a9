"""Plays the platforms: builds correctly signed (and encrypted) pushes in each platform's real format."""

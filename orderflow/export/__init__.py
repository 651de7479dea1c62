"""The published contract, generated from the code: AsyncAPI, its guide, the map, the settings."""

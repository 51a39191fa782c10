"""YAML data files of the traffic, capacity and cost models (read with importlib.resources)."""

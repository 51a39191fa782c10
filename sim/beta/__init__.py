"""Beta telemetry: the file format, a seeded synthetic generator, estimation with bootstrap intervals, and
placement of the fit against the traffic scenarios with the cost of each deviation (see FORMAT.md)."""

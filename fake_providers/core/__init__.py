"""Shared core of the fake providers: clock, OAuth token store, rate-limit windows, synthetic data, counters,
fault engine, webhooks, control API and the server bootstrap. Nothing here knows a provider's wire format."""

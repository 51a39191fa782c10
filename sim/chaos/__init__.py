"""Chaos experiments and gamedays against the running SyncWell stack (issue 5): see sim/chaos/README.md."""

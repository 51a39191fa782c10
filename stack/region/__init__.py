"""Two regions of the stack on one machine (issue 8): a DR region beside the primary, global-table replication
with a lag (replicator), Route 53-style failover routing (router), and the region-outage rehearsal.

See docs/region-failover.md."""

"""`make chaos`: the local pipeline under a fault schedule, with its invariants (see local.chaos.run)."""

"""What a local run sends (the workload and its oracle), how it is driven, and how it is checked."""

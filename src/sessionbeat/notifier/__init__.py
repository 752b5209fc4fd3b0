"""Push notifications (Apprise) fed by the aggregator's state changes."""

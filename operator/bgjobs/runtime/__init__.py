"""The running operator: work queue, reconciler, dispatcher, registry source."""

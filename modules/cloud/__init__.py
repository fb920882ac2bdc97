"""Training on a remote Linux machine over SSH: the local side uploads what a run needs, starts the
headless trainer there and follows it through an event file; see docs/tab-cloud.md."""

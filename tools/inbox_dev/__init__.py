"""Developer tooling: the local broker, the process supervisor behind `make run`, and the e2e fixtures' base."""

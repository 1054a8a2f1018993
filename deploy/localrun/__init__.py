"""Run the whole platform as local processes (what `make run` and the
end-to-end tests use)."""

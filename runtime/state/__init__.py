"""The state room: checkpoints and job results (store), and the event stream (stream)."""

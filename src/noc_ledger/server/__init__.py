"""HTTP servers: the edges that serve the read path and the witness protocol."""

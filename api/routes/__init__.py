"""HTTP routes, one module per resource; each is a thin adapter over the agent and its tools."""

"""Graph-to-graph passes, one per module, each a pure `run(graph) -> Graph`;
`pipeline.optimize` composes them."""

"""Stand-alone tools: the verifiable draw and its verifier (standard library only)."""

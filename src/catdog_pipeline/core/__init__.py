"""What several stages and the serving code share, and nothing stage-specific."""

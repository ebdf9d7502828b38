"""Site dirs: a validated wheel installed into its own isolated dir, staged and renamed."""

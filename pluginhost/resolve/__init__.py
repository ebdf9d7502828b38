"""Pure decisions: which version of each plugin, in which order, and why the rest is left out."""

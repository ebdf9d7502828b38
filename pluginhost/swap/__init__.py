"""The switch: the only code touching pluggy's private attributes, and the transitions built
on it."""

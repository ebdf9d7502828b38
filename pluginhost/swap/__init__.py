"""The swap stage: the only code touching pluggy's private attributes, and the transitions built
on it.

- :mod:`.switch`: plugins put in or taken out of a ``PluginManager`` in one step per hook;
- :mod:`.drain`: waiting for the calls still running switched-out implementations;
- :mod:`.members`: the plugins a transition works on (active ones, members under way);
- :mod:`.hooks`: one lifecycle hook of one plugin, called outside pluggy's broadcast;
- :mod:`.transition`: a change of the active set, step by step, undone on any failure;
- :mod:`.retirement`: the old versions drained, deactivated and purged, or a plugin unloaded;
- :mod:`.cleanup`: deactivating a version, and what it leaves behind.
"""

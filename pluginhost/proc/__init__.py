"""Plugins in worker processes: the channel (:mod:`.messages`, :mod:`.channel`), the worker's
side (:mod:`.child`, :mod:`.serve`, :mod:`.confine`, :mod:`.cgroup`) and the host's
(:mod:`.launcher`, :mod:`.worker`). Nothing here is imported by ``import pluginhost``."""

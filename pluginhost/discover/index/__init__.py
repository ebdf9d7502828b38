"""A client of the simple repository API (PEP 503 HTML, PEP 691 JSON): the pages of a package
index read into values (pages), parsed (parse), fetched cheaply and downloaded with their hashes
checked (client), credentials found (auth), and the retry delays of a poller (backoff).

httpx is imported only here, when an index is used: ``import pluginhost`` stays light.
"""

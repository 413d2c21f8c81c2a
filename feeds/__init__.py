"""Department feeds: a department's export read, checked, matched, staged and merged.

A run (:func:`feeds.run.run_feed`) streams the file (:mod:`feeds.read`), checks every row
(:mod:`feeds.validate`), places its address with the matcher, stages the good rows in a
temporary table and merges them into the shared table in one set-based transaction
(:mod:`feeds.merge`), under a per-feed lock. It answers a :class:`feeds.report.RunReport`.
"""

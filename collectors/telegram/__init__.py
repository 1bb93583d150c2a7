"""Telegram capture helpers: the Telethon port, the public-preview scraper and their shared parts.

``collector.TelegramCollector`` is the entry point; these modules each do one job:

- ``options``    typed per-source options (``source.options`` → ``TelegramOptions``), declared
- ``urls``       ``@name`` / ``telegram:@name`` / t.me URLs → one channel spelling
- ``client``     the small port over the Telethon calls the collector needs (fakeable)
- ``normalise``  TL objects → JSON-safe raw dicts and normalised message records
- ``staging``    batch JSON and media files written into the staging directory
- ``run``        what both modes share: message batches and the artifact list
- ``api``        api mode: incremental history, media, flood waits (``api_recheck``: edits
                 and deletions in a window of known messages)
- ``fetch``      policy-checked HTTP with a WARC of every request and response
- ``preview_html`` / ``preview``  the public ``t.me/s/<name>`` preview, paged and incremental
- ``lock``       one account, one run at a time
- ``login``      ``witnessbox telegram login``: create a StringSession interactively
"""

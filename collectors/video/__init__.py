"""Building blocks of the video collector (``collectors.video.collector``), one job per module:

``options`` typed per-source options (declared) → yt-dlp params; ``run`` one capture's
listing, backoff and record; ``network`` the policy on every connection; ``session`` one
configured yt-dlp per capture; ``listing`` which playlist entries a run takes; ``item`` one
video into staging; ``files`` names, types, decode check; ``failures`` yt-dlp errors →
reasons; ``watchpage`` the page through the web collector.
"""

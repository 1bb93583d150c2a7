"""Building blocks of the video collector (``collectors.video.collector``), one job per module:

``options`` typed per-source options → yt-dlp params; ``network`` the policy on every
connection; ``session`` one configured yt-dlp per capture; ``listing`` which playlist
entries a run takes; ``item`` one video into staging; ``files`` names, types, decode check;
``failures`` yt-dlp errors → reasons; ``watchpage`` the page through the web collector.
"""

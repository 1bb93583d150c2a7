"""The web collector's parts: options, the shared browser, the policy gate, the network
recorder (CDP Fetch + Network), the page driver and the writer of WARC, WACZ and artifacts.

``collectors.web.collector.WebCollector`` ties them together; nothing here imports Playwright at
module level, so importing the package is cheap.
"""

"""The web collector's parts: options, the shared browser, the policy gate, the network
recorder (CDP Fetch + Network) and the hops it records, the page driver, the writer of WARC,
WACZ and artifacts, and the page info it writes alongside.

``collectors.web.collector.WebCollector`` ties them together; nothing here imports Playwright at
module level, so importing the package is cheap.
"""

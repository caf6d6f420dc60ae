"""The call flow as plain logic: (state, event) -> (state, commands).

Nothing in this package performs I/O or imports the ARI adapter, the store or
aiohttp, so every branch of a flow is testable in milliseconds and the admin
site's simulator can run the very same engine.
"""

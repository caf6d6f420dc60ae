"""Local development and test environment: PostgreSQL and Asterisk instances.

Used by ``make run`` and the end-to-end tests alike, so both run the system the
same way, from the very files in ``asterisk-conf/``.
"""

"""The merchant app's pages for stores, segments and customers (``/app/``).

Every page is a ``merchant_view``: it reads through the scoped queries and changes state only
through ``segments.actions`` (and ``csv_import``), exactly like the API.
"""

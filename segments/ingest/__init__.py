"""Order events from Shopify and Recharge: verified and stored by the webhook views, applied by
workers in batches, one customer at a time, exactly once in effect.

``signatures`` checks the senders' signatures, ``topics`` knows what each topic must carry,
``mapping`` turns payloads into rows, ``apply`` writes them, ``figures`` recomputes the customers'
derived figures from their rows, and ``actions`` is the entry point for views, tasks and admin.
"""

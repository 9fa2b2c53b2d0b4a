"""Analytics: summary rows computed by SQL aggregates in a background refresh, and the
statistics that compare groups of customers.

``figures`` holds the segment figures (daily sizes, behaviour before/after joining and of the
rest of the store, cohort retention); ``refresh`` runs the incremental refresh with its status
row and the sweep that restarts a dead one; ``stats`` the two-proportion z test, Welch's t-test
and CUPED, all from aggregates (counts, means, variances, covariances) that SQL returns.
"""

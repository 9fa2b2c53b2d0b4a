"""Rewards: incentives, the reward ledger, credit balances and cross-sell offers."""

"""Shared helpers of the test tiers (not tests themselves)."""

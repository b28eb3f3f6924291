"""Readers of the procurement's forms: cost form (price), offer form (bidder, parts, texts)."""

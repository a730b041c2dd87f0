"""Creators' rights: claims, published prompts, hiding and erasing, removal requests."""

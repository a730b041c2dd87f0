"""The private prompts vault: prompts with append-only versions, tags, favorites
(pv1 envelopes only)."""

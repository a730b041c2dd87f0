"""First-party, cookieless usage and performance metrics (privacy policy §1, §2, §4)."""

"""SoraStats: public statistics and prompts of Sora creators."""

__version__ = "0.1.0"

"""Where things are, for tests at any depth of tests/ (they mirror the packages)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "sora"  # beside the checkout

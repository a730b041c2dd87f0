"""The `/pricing/` page's document, built from the one tier table (`sorastats.tiers.TIERS`).

Pure: no I/O. The page is static, so whether billing is on is decided in the browser
(`static/js/billing.js` asks `GET /api/billing` and shows the buttons only when it
answers something other than 503 `billing_disabled`).
"""

from __future__ import annotations

from typing import Any

from sorastats.tiers import FEATURES, LIMITS, TIERS, Interval, display_allowance


def pricing_doc() -> dict[str, Any]:
    tiers = []
    for tier in TIERS:
        prices = [
            {"interval": interval.value, "display": price.display()}
            for interval in Interval
            if (price := tier.prices.get(interval)) is not None
        ]
        tiers.append({"name": tier.name, "title": tier.title, "help": tier.help, "prices": prices})
    rows = []
    for spec in LIMITS:
        rows.append(
            {
                "label": spec.label,
                "cells": [
                    {
                        "value": display_allowance(tier.limit(spec.key), spec.kind),
                        "why": tier.limits[spec.key].why,
                    }
                    for tier in TIERS
                ],
            }
        )
    for feature in FEATURES:
        rows.append(
            {
                "label": feature.label,
                "cells": [
                    {
                        "value": "Included" if tier.has_feature(feature.key) else "Not included",
                        "why": tier.features[feature.key].why,
                    }
                    for tier in TIERS
                ],
            }
        )
    free = TIERS[0]  # the tier everyone is on while billing is off
    return {
        "url": "/pricing/",
        "title": "Pricing",
        "description": "SoraStats Free and Pro: what each includes, what it costs and why.",
        "tiers": tiers,
        "rows": rows,
        # What the page must say while billing is off: the free tier's limits hold and
        # paid features stay closed (the API answers 402 for them), so nothing is promised.
        "free_title": free.title,
        "paid_only": [f.label for f in FEATURES if not free.has_feature(f.key)],
    }

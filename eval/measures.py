"""The retrieval measures the eval reports, by their display names (ir-measures objects)."""

from __future__ import annotations

from ir_measures import RR, P, R, nDCG

MEASURES = {"nDCG@10": nDCG @ 10, "R@5": R @ 5, "R@10": R @ 10, "RR@10": RR @ 10, "P@5": P @ 5}

"""Writes tests/data/network_interactions.csv (run from the repository root).

A binomial (``y``) and gaussian (``score``) network of 6 trials (S1: three arms A/B/C),
150 rows per arm, covariates ``age`` (planted within-trial interactions with the treatment:
B +0.04, C -0.03 per year on the log odds, twice that on ``score``; per-arm heterogeneity)
and ``sex`` (0/1). The R reference is ``network_interactions_reference.R``.
"""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261207)
designs = {
    "S1": ("A", "B", "C"),
    "S2": ("A", "B"),
    "S3": ("A", "C"),
    "S4": ("B", "C"),
    "S5": ("A", "B"),
    "S6": ("A", "C"),
}
d = {"A": 0.0, "B": -0.5, "C": 0.3}
g = {"A": 0.0, "B": 0.04, "C": -0.03}
rows = []
for k, (s, arms) in enumerate(designs.items()):
    base = rng.normal(-0.3, 0.3)
    mu = 45 + 3 * k
    for a in arms:
        n = 150
        x = np.round(rng.normal(mu, 10, n), 1)
        z = rng.binomial(1, 0.5, n)
        ga = g[a] + rng.normal(0, 0.02) * (a != "A")
        shift = rng.normal(0, 0.4) * (a != "A")
        eta = base + d[a] + shift + 0.02 * (x - mu) + 0.3 * z + ga * (x - mu)
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
        mean = 10 + 2 * base + 3 * d[a] + 0.1 * (x - mu) + 0.5 * z + 2 * ga * (x - mu)
        mean = mean + rng.normal(0, 0.8) * (a != "A")
        yg = np.round(mean + rng.normal(0, 2, n), 3)
        for i in range(n):
            rows.append((s, a, int(y[i]), float(yg[i]), float(x[i]), int(z[i])))
frame = pd.DataFrame(rows, columns=["study", "treatment", "y", "score", "age", "sex"])
frame.to_csv("tests/data/network_interactions.csv", index=False)

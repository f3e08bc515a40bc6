"""How biased is approach 2 (IsoFLOP parabolas) on noiseless data, by grid width and centre?

Runs from a known Chinchilla law on IsoFLOP grids (9 budgets from 1e18 to 1e22 FLOPs, 9
sizes per budget log-spaced over ±span around a centre); the centre is the true optimum
times ``(C / 1e20) ** drift``, i.e. a grid that follows a guessed N*(C) whose exponent is
off by ``drift`` (drift 0: centred on the truth at every budget). Prints the fitted
exponent a against the truth and the ratio of the predicted to the true N* at 1e23.

    python benchmarks/approach2_bias.py
"""

from __future__ import annotations

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, approach2
from scalinglab.laws.synthetic import isoflop_design

LAWS = {
    "Hoffmann et al. 2022": ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    "Besiroglu et al. 2024": ChinchillaLaw(
        E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658
    ),
}
BUDGETS = np.geomspace(1e18, 1e22, 9)


def main() -> None:
    print("| law | grid | drift of centre | a fitted | a true | bias | N*(1e23) fitted / true |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, law in LAWS.items():
        n_true, _ = law.compute_optimal(1e23)
        for span in (2, 4, 16):
            for drift in (0.0, 0.1, 0.2):
                offsets = (BUDGETS / 1e20) ** drift
                try:
                    result = approach2(isoflop_design(law, BUDGETS, span=span, offset=offsets))
                except ScalingLabError as error:
                    print(f"| {name} | ±{span}x | {drift:+.1f} | fails: {error} | | | |")
                    continue
                print(
                    f"| {name} | ±{span}x | {drift:+.1f} | {result.a:.4f} | {law.a:.4f} | "
                    f"{result.a - law.a:+.4f} | {float(result.n_opt(1e23) / n_true):.3f} |"
                )


if __name__ == "__main__":
    main()

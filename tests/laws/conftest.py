"""Shared fixtures of the law tests: the Epoch AI extraction of Chinchilla's runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "chinchilla_epoch_2024.csv"


@pytest.fixture(scope="session")
def epoch_table() -> pd.DataFrame:
    """The 240 points Besiroglu et al. 2024 fitted: the 5 highest losses removed."""
    table = pd.read_csv(DATA)
    fifth_highest = np.sort(table["loss"].to_numpy())[-5]
    return table[table["loss"] < fifth_highest].reset_index(drop=True)

"""Intake speed: rows checked per second for CSV and XLSX, and how fast an oversized file is refused.

Run: ``.venv/bin/python bench/bench_intake.py [ROWS]`` (default 20,000). Prints figures, asserts nothing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jdl_lib.errors import IntakeError
from jdl_lib.identifiers import pnc_check_letters
from jdl_lib.intake import check_upload
from jdl_lib.template import UPLOAD_COLUMNS


def _upload(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years, serials = rng.integers(1975, 2005, n), rng.choice(9_000_000, n, replace=False) + 1
    dob = np.datetime64("1960-01-01") + rng.integers(0, 12_000, n).astype("timedelta64[D]")
    start = np.datetime64("2003-01-01") + rng.integers(0, 2_500, n).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "forename": rng.choice(["JOHN", "MARY", "AHMED", "ZOË"], n),
            "surname": [
                f"SMITH{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i // 676 % 26)}" for i in range(n)
            ],
            "date_of_birth": pd.to_datetime(dob).strftime("%d/%m/%Y"),
            "gender": rng.choice(["M", "F"], n),
            "pnc_id": [
                f"{y}/{s:07d}{c}"
                for y, s, c in zip(years, serials, pnc_check_letters(years, serials), strict=True)
            ],
            "prison_number": "",
            "intervention_start": pd.to_datetime(start).strftime("%d/%m/%Y"),
            "intervention_end": "",
            "setting": rng.choice(["Custody", "Community"], n),
        }
    ).rename(columns=UPLOAD_COLUMNS)


def main(rows: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jdl-bench-intake-"))
    frame = _upload(rows)
    csv, xlsx = tmp / "upload.csv", tmp / "upload.xlsx"
    frame.to_csv(csv, index=False)
    frame.to_excel(xlsx, index=False)
    for path in (csv, xlsx):
        t = time.perf_counter()
        result = check_upload(path, max_rows=max(rows, 100_000))
        secs = time.perf_counter() - t
        print(
            f"{path.suffix}: {rows:,} rows checked in {secs:.2f} s ({rows / secs:,.0f} rows/s); "
            f"{result.n_valid:,} valid"
        )
    huge = tmp / "huge.csv"
    huge.write_text(frame.to_csv(index=False) + frame.iloc[:1].to_csv(index=False, header=False) * 1_000_000)
    t = time.perf_counter()
    try:
        check_upload(huge)
    except IntakeError:
        pass
    print(f"1,000,000+ row CSV refused in {time.perf_counter() - t:.2f} s (cap 100,000 rows)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)

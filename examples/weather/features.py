"""The model's inputs from a row of data/seattle-weather.csv: the measurements and the month of the date, as train.py
(load) and serve.py (features) derive them, for `mloop evaluate` / `mloop explain` (`prepare: features:add_month` in mloop.yaml).
"""
import pandas as pd

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def add_month(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    # float, like every other input: an integer column makes MLflow's schema refuse a missing value at serving time
    frame["month"] = pd.to_datetime(frame["date"]).dt.month.astype("float64")
    return frame

import os

# Notebooks executed by the tests (nbval, papermill) run in SMOKE mode, headless.
os.environ.setdefault("MMCOURSE_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

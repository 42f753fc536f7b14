"""Public datasets read at run time from installed packages (never committed to the repo)."""

from components.datasets.movielens import load_movielens_100k

__all__ = ["load_movielens_100k"]

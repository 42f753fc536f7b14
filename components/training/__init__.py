"""From the lake to a judged model: interactions, time-split evaluation, sweeps, refit."""

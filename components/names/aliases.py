"""The names a model version and an answer carry: MLflow registry aliases, the variant that
answered a request and the exploration arm it fell in.

Aliases are stored in the MLflow registry and the serving cache (`aliases.json`); variants and
arms are recorded in every impression's `context` and read back by the experiment readout, so
renaming one orphans what the registry, the cache and the event log already hold.
"""

from __future__ import annotations

from typing import Final

# Registry aliases: training registers a CHALLENGER, the gate moves it to CANARY (a share of
# live traffic) or CHAMPION. The recommend service also shadow-scores the CHALLENGER.
CHALLENGER: Final = "challenger"
CANARY: Final = "canary"
CHAMPION: Final = "champion"
ALIASES: Final = (CHALLENGER, CANARY, CHAMPION)

# The variant that answered (context.variant): a served alias, or FALLBACK (no champion loaded:
# the popularity fallback answered).
FALLBACK: Final = "fallback"
VARIANTS: Final = (CHAMPION, CANARY, FALLBACK)

# Exploration arms (context.arm, by a hash of user_id); EXPLORE is also the reason given for an
# explored item.
GREEDY: Final = "greedy"
EXPLORE: Final = "explore"
ARMS: Final = (GREEDY, EXPLORE)

"""The backtest command: reco's ranking judged on logged history in the lake."""

"""The right to be forgotten: erase a reader's online state now (`erase_reader`, behind
`DELETE /users/{id}`) and carry the erasure through the lake later (`propagate.apply_erasure`,
behind `pipelines/erasure/main.py apply`). docs/operations.md, "Erasure", is the runbook."""

from components.erasure.reader import ErasureResult, InvalidReaderIdError, check_user_id, erase_reader

__all__ = ["ErasureResult", "InvalidReaderIdError", "check_user_id", "erase_reader"]

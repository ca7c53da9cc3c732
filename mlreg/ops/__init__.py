"""The operations: reads, register, promote and the other edits, the pull-request gate, history."""

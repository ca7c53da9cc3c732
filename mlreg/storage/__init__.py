"""Git and the write transaction: every git call, atomic file writes, the journal, artifact digests."""

"""Evidence for a run folder: recompute every derived number from the raw samples and diff it
against the stored one; sign and verify DSSE / in-toto envelopes."""

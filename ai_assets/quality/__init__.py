"""Table schemas (pandera), asset checks and the shared vocabularies they enforce."""

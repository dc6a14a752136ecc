"""The one generation pipeline every wire surface runs: validate → intake → engine → result → store."""

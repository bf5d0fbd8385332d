"""`laterna bench`: speed tables, measured side by side in one run."""

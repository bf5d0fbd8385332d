"""The `laterna` command: run, check, doctor, devices, training and export commands."""

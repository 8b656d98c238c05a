"""GCPO (Edit-R1's Group Contrastive Preference Optimization) for the reasoning verifier: settings (``config``), the
per-pair reward math (``core``), the training loop (``trainer``) and the command line (``__main__``)."""

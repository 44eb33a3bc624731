"""The log record (SPEC 4): its hash chain, and reading, showing and verifying logs."""

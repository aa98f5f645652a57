"""Running panikid as a systemd service: sd_notify, the watchdog, journal logging."""

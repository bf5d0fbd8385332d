"""Running unattended: systemd supervision, health and Prometheus metrics."""

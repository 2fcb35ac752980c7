"""explosion-monitor: partner drops to published target metrics."""

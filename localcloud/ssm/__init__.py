"""SSM Run Command on instance hosts (`commands`)."""

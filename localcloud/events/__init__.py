"""EventBridge: schedule rules fired at their targets (`schedules`)."""

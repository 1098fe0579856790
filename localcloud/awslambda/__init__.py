"""Lambda: every invoke runs the deployed zip with its layers in a worker process (`runtime`,
`_worker`)."""

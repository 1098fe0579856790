"""`make parity`: LocalStack's AWS-validated tests against the local cloud (see README.md)."""

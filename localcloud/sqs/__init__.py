"""SQS on the local cloud: moto's SQS, with AWS's 60-second wait before a deleted queue's name
can be used again under `--like-aws` (`patches.py`)."""

"""SQS: moto's queues, with the patches in `patches`."""

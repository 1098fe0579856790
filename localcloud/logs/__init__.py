"""CloudWatch Logs: Lambda output written into moto's logs backend (`cloudwatch`)."""

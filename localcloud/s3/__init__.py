"""S3: event notifications delivered asynchronously to Lambda (`notifications`)."""

"""EC2 account shapes: a new instance profile's propagation delay and an account without a
default VPC, at RunInstances (`launch`). Instance hosts and transitions live with SSM Run
Command in `localcloud.ssm.commands`."""

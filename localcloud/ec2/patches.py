"""moto's EC2, patched where a request naming something that does not exist gets a 500
instead of EC2's not-found error (codes from
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html); tripwires in
tests/unit/test_localcloud_validation_rules.py.

- `NatGatewayBackend.delete_nat_gateway`: an unknown id -> `NatGatewayNotFound`.
- `SpotRequestBackend.modify_spot_fleet_request`: an unknown id ->
  `InvalidSpotFleetRequestId.NotFound`; no TargetCapacity keeps the current one.
- `NetworkAclBackend.replace_network_acl_association`: an unknown association ->
  `InvalidAssociationID.NotFound`.
"""
from __future__ import annotations

from typing import Any

PATCH_POINTS = [("moto.ec2.models.nat_gateways", "NatGatewayBackend", "delete_nat_gateway"),
               ("moto.ec2.models.spot_requests", "SpotRequestBackend", "modify_spot_fleet_request"),
               ("moto.ec2.models.network_acls", "NetworkAclBackend",
                "replace_network_acl_association")]


def _error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError
    return EC2ClientError(code, message)


def install(cloud: Any) -> None:
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.models.network_acls import NetworkAclBackend
    from moto.ec2.models.spot_requests import SpotRequestBackend

    def nat(original):
        def delete_nat_gateway(self, nat_gateway_id):
            if nat_gateway_id not in self.nat_gateways:
                raise _error("NatGatewayNotFound",
                             f"The Nat Gateway {nat_gateway_id} was not found")
            return original(self, nat_gateway_id)
        return delete_nat_gateway

    def fleet(original):
        def modify_spot_fleet_request(self, spot_fleet_request_id, target_capacity,
                                      terminate_instances):
            request = self.spot_fleet_requests.get(spot_fleet_request_id)
            if request is None:
                raise _error("InvalidSpotFleetRequestId.NotFound",
                             f"The spot fleet request ID '{spot_fleet_request_id}' does not exist")
            if target_capacity is None:
                target_capacity = request.target_capacity
            return original(self, spot_fleet_request_id, target_capacity, terminate_instances)
        return modify_spot_fleet_request

    def acl(original):
        def replace_network_acl_association(self, association_id, network_acl_id):
            if not any(association_id in a._associations for a in self.network_acls.values()):
                raise _error("InvalidAssociationID.NotFound",
                             f"The association ID '{association_id}' does not exist")
            return original(self, association_id, network_acl_id)
        return replace_network_acl_association

    cloud.hook(NatGatewayBackend, "delete_nat_gateway", nat)
    cloud.hook(SpotRequestBackend, "modify_spot_fleet_request", fleet)
    cloud.hook(NetworkAclBackend, "replace_network_acl_association", acl)

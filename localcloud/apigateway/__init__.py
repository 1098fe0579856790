"""API Gateway REST data plane: invoke URLs served from moto's stored APIs (`dataplane`), its
pure logic (routes, throttles, schemas, proxy events, gateway responses) in `logic`."""

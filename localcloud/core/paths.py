"""The local cloud's own HTTP routes (served by `server.core_middleware`, used by the CLI)."""
HEALTH_PATH = "/_localcloud/health"
SHUTDOWN_PATH = "/_localcloud/shutdown"
RESET_PATH = "/_localcloud/reset"
MOTO_RESET_PATH = "/moto-api/reset"  # moto's own; moto's tests POST it between tests

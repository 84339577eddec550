"""Capsule's Python SDK: govern a Python service the way CapsuleAgentKit governs Swift ones.

```python
import capsule

agent = capsule.Agent(agent_code="billing", token=os.environ.get("CAPSULE_TOKEN"))
svc = agent.service("billing-bridge", name="Billing bridge", version="1.4.0")

@svc.health(timeout=2.0)
async def health():
    return capsule.Health.up("queue drained", details={"depth": 3})

agent.run()
```

See docs/python-sdk.md for the whole API and its semantics.
"""

from .agent import Agent
from .errors import FINAL_HELLO_ERRORS, CapsuleError, LedgerUnavailable, is_final_hello_error
from .health import Health, HealthStatus
from .redact import PLACEHOLDER, is_secret_key, redact
from .service import ActionContext, Config, Danger, Result, Service
from .wire import manifest_digest

__all__ = [
    "Agent",
    "Service",
    "Health",
    "HealthStatus",
    "Config",
    "Result",
    "ActionContext",
    "Danger",
    "CapsuleError",
    "LedgerUnavailable",
    "FINAL_HELLO_ERRORS",
    "is_final_hello_error",
    "PLACEHOLDER",
    "is_secret_key",
    "redact",
    "manifest_digest",
]

__version__ = "0.1.0"

"""The OpenAI-compatible proxy (SPEC section 14): an ASGI app served by hypercorn.

`ProxyApp` is the ASGI application over an `AsyncMeshClient`; `run_proxy` is
`modelmesh serve`; `ProxyServer` runs it on a background thread.
"""

from adapters.proxy.app import ProxyApp
from adapters.proxy.server import ConfigSource, ProxyServer, run_proxy
from adapters.proxy.settings import ProxySettings, settings_from

__all__ = ["ConfigSource", "ProxyApp", "ProxyServer", "ProxySettings", "run_proxy",
           "settings_from"]

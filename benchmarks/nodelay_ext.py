"""A Jupyter server extension for measurement only: TCP_NODELAY on the kernel websockets.

The server leaves Nagle's algorithm on, so a small message to the browser can wait ~40 ms for the
previous segment's delayed ACK. This is server-side; a kernel cannot change it. Loaded by
`widget_stream.py --nodelay` to show what the setting is worth.
"""


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    original = KernelWebsocketHandler.open

    async def open_nodelay(self, *args, **kwargs):
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    KernelWebsocketHandler.open = open_nodelay
    serverapp.log.info("nodelay_ext: TCP_NODELAY on kernel websockets")

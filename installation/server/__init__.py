"""The visitor/operator port: websocket I/O, the sans-I/O protocol, routes, pages, auth, static files."""

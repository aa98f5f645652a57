"""The HTTP and WebSocket surface: the server, the status page and the WebSocket frame guard."""

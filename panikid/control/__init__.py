"""The control plane: commands, MQTT (with Home Assistant discovery), the local WebSocket API and status page."""

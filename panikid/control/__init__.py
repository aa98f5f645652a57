"""The control plane: commands, MQTT (with Home Assistant discovery), the local WebSocket API and status page.

Every surface acts through one control API (api.py, implemented by the daemon) and hands its commands to
the one command handler (commands.py); the runtime settings they show are one table (settings.py).
"""

"""The MQTT surface: topics, Home Assistant discovery, Hermes compatibility, and forgetting the device."""

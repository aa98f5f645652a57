"""The assistant's brains: LLM providers, the router that picks one, context and instant intents."""

"""Pure text utilities shared by the brains and the speech stages (how streamed text is cut into sentences)."""

"""Telegram handlers: thin callbacks that parse an update, call a data function and reply."""

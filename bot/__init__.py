"""The Telegram face of Aftercare: settings, application wiring, handlers and the command line."""

"""Prompts: Japanese text -> speech -> audio files Asterisk plays without transcoding."""

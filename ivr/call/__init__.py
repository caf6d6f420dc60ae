"""Calls: one asyncio task per call feeds the flow engine and runs its commands via ARI."""

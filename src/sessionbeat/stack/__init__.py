"""The whole local stack in one command (``up``) and the demo that fills it."""

"""chorus-bot: registers suppliers on Chorus Pro, unattended."""

__version__ = "0.1.0"

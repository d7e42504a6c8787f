"""Development settings: ``make run`` on a bare machine."""

from .base import *  # noqa: F403

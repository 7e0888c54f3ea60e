"""Review screen: the image with its evidence overlay, keyboard-first decisions."""

from desktop.review.pyside_guard import keep_none_alive

keep_none_alive()

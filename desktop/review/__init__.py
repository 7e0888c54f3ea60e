"""Review screen: the image with its evidence overlay, keyboard-first decisions."""

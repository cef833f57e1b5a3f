"""The directions of `probe=[shift]`, apart from the probe (which pulls in pyplot), so that the
config declarations can offer them as choices without slowing every command's start-up."""

# direction -> (dx, dy) for one pixel of shift; +x is right, +y is down (image rows).
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1), "diagonal": (1, 1)}

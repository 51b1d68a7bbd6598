"""The colours of occlusion's class maps (the heat maps' scale is `imaging.HEATMAP`)."""

# Distinct class colours (the first 20 classes by index when a model has at most 20; else the 19
# most frequent classes of a record, the rest OTHER_COLOUR). Gray comes last: over a gray image it
# would read as no colour at all.
CLASS_PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (57, 59, 121),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (219, 219, 141), (158, 218, 229), (127, 127, 127),
)
OTHER_COLOUR = (0, 0, 0)

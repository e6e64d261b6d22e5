"""The slow methods, which optimise an image's pixels: the Gatys et al. baseline (`gatys`) and
feature inversion (`invert`).
Photorealistic transfer, which builds on the baseline, is fastnst.photoreal."""

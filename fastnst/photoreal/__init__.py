"""Photorealistic style transfer (Luan et al. 2017): masks, region finding, upsampling, config.

The optimisation itself is fastnst.optim.photoreal; its loss terms are fastnst.losses.masked
(Grams per region) and fastnst.losses.affine (the matting Laplacian).
"""

"""Photorealistic style transfer (Luan et al. 2017), all of it: the algorithm (`transfer`:
pixels optimised coarse to fine against masked style Grams and the matting-Laplacian term of
fastnst.losses), its starting image (`start`), masks (`masks`: colour-coded PNGs; `clusters`:
found with --auto-masks), upsampling along the content's edges (`upsample`), its parameters
and the settings of fastnst-photo (`config`), and its evaluation (`metrics`, `report`:
fastnst-eval photoreal).
"""

"""fastnst: fast neural style transfer (Johnson et al. 2016) with a Gatys baseline.

Public tensors are float RGB images in [0, 1], NCHW.
"""

from fastnst.errors import FastNSTError

__version__ = "0.1.0"

__all__ = ["FastNSTError", "__version__"]

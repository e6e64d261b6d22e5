"""Training with Lightning: the module, photo data and cache, callbacks, `train()`.

`config`, `photos` and `cache` need no Lightning; `module`, `datamodule`, `callbacks` and
`train` import it.
"""

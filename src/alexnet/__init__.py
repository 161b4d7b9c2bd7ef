"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) on PyTorch.

The paper's two-tower network and its relatives live in :mod:`alexnet.models`; the data
pipeline in :mod:`alexnet.data`; training and evaluation in :mod:`alexnet.train` and
:mod:`alexnet.evaluate`; what people do with a trained net in :mod:`alexnet.use`.
"""

__version__ = "0.1.0"

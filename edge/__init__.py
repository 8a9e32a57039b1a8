"""The device runtime: frame sources, detector, alignment, embedder, identify loop.

Nothing in this package imports tensorflow, keras or mtcnn.
"""
